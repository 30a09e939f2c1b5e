"""A WhatsApp step written in the campaign editor in a real browser: the "Sent by" choice shows
its fields, a template the number does not have is refused with the API's error, and the fixed
step is saved and launched."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect

from tambuli.billing import service as billing
from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tambuli.organizations import service as organizations
from tambuli.organizations.models import Role
from tambuli.whatsapp import numbers
from tests.support.server import RunningServer
from tests.web.conftest import assert_accessible, save_screenshot
from tests.web.console_client import Person, make_person


@dataclass(frozen=True)
class World:
    """An organization with a WhatsApp Business number, one template and an editor."""

    base_url: str
    org_id: int
    number: str
    editor: Person


@pytest.fixture
async def world(db: Database, clock: FakeClock, server: RunningServer) -> World:
    """Made before the browser starts."""
    org = await organizations.create_organization(db, clock, "Clinic reminders")
    await billing.credit_balance(db, clock, org.org_id, 5_000_000, "test funds")
    number = f"1557{org.org_id % 10**7:07d}"
    await numbers.add_number(db, clock, org.org_id, number, f"pn-{org.org_id}", "")
    await numbers.add_template(
        db, clock, number, "visit_reminder", "en", "Hi {{1}}, your visit is on {{2}}"
    )
    editor = await make_person(db, clock, org.org_id, Role.EDITOR)
    return World(server.base_url, org.org_id, number, editor)


def test_a_whatsapp_template_step_is_written_checked_saved_and_launched(
    world: World, browser_page: Page
) -> None:
    page = browser_page
    page.goto(f"{world.base_url}/sign-in")
    page.get_by_label("Email").fill(world.editor.email)
    page.get_by_label("Password").fill(world.editor.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Clinic reminders")
    page.goto(f"{world.base_url}/orgs/{world.org_id}/campaigns/new")
    page.get_by_label("Name").fill("Visit reminders")
    expect(page.get_by_label("WhatsApp template")).to_be_hidden()
    page.get_by_label("Sent by").select_option("whatsapp")
    expect(page.get_by_label("WhatsApp template")).to_be_visible()
    page.get_by_label("WhatsApp Business number").fill(world.number)
    page.get_by_label("WhatsApp template").fill("visit_remindr")
    page.get_by_label("Template language").fill("en")
    page.get_by_label("Template parameters, one a line").fill("{{contact.firstName}}\nMonday")
    assert_accessible(page)
    save_screenshot(page, "campaign-editor-whatsapp")
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.get_by_role("alert")).to_contain_text("steps[0].template.default")
    expect(page.get_by_label("Sent by")).to_have_value("whatsapp")
    expect(page.get_by_label("WhatsApp template")).to_have_value("visit_remindr")
    page.get_by_label("WhatsApp template").fill("visit_reminder")
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Visit reminders")
    expect(page.get_by_role("status")).to_have_text("Saved.")
    steps = page.locator(".step-list")
    expect(steps).to_contain_text(f"WhatsApp from: +{world.number}")
    expect(steps).to_contain_text("template (default): visit_reminder in en")
    assert_accessible(page)
    save_screenshot(page, "campaign-whatsapp")
    page.get_by_role("button", name="Launch").click()
    expect(page.locator(".facts .state")).to_have_text("launched")
