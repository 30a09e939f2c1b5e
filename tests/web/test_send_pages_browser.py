"""Send, Messages and Top-ups in a real browser (headless Chromium) on a server whose
workers deliver through the simulator: the live counter, a send followed to its receipt, a
top-up, an accessibility check and a screenshot of each page."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect

from tambuli.billing import service as billing
from tambuli.clock import FakeClock
from tambuli.contacts import phones
from tambuli.contacts import service as contacts
from tambuli.contacts.models import ContactInput
from tambuli.db.engine import Database
from tambuli.organizations import service as organizations
from tambuli.organizations.models import Role
from tests.support.server import RunningServer
from tests.web.conftest import assert_accessible, save_screenshot
from tests.web.console_client import Person, make_person
from tests.web.test_console_browser import sign_in

NUMBER = "639171234570"
# Waiting for the workers and the page's own refresh; the test ends as soon as the state shows.
DELIVERY_WAIT_MS = 60_000


@dataclass(frozen=True)
class Desk:
    """An organization with funds, a contact in a group, and its editor."""

    base_url: str
    org_id: int
    contact_id: int
    editor: Person


@pytest.fixture
async def desk(db: Database, clock: FakeClock, server: RunningServer) -> Desk:
    """The organization, made before the browser starts."""
    org = await organizations.create_organization(db, clock, "Rural Health Unit")
    await billing.credit_balance(db, clock, org.org_id, 25_000_000, "test funds")
    group = await contacts.create_group(db, clock, org.org_id, "Midwives")
    contact = await contacts.create_contact(
        db,
        clock,
        org.org_id,
        phones.normalise_full_number("639181234570"),
        ContactInput(first_name="Maria", last_name="Santos", groups=[group.id]),
    )
    editor = await make_person(db, clock, org.org_id, Role.EDITOR)
    return Desk(server.base_url, org.org_id, contact.id, editor)


def test_compose_and_send_an_sms_and_watch_it_reach_delivered_in_the_message_log(
    desk: Desk, browser_page: Page
) -> None:
    page = browser_page
    sign_in(page, desk.base_url, desk.editor)
    page.get_by_role("link", name="Send").click()
    expect(page.get_by_role("heading", name="Send an SMS")).to_be_visible()
    page.get_by_label("Number (international").fill(f"+{NUMBER}")
    page.get_by_label("Message", exact=True).fill("Magandang umaga, {{contact.firstName}} ✓")
    # The live counter: the server's answer, without pressing Preview.
    expect(page.locator("#counter")).to_contain_text("UCS-2")
    expect(page.locator("#preview code.char")).to_have_text("✓")
    expect(page.locator("#preview")).to_contain_text("goes as typed")
    page.get_by_label("a contact").check()
    page.get_by_label("Contact ID", exact=True).fill(str(desk.contact_id))
    expect(page.locator("#preview [data-test=preview-text]")).to_have_text(
        "Magandang umaga, Maria ✓"
    )
    expect(page.locator("#preview [data-test=cost]")).to_be_visible()
    assert_accessible(page)
    save_screenshot(page, "send")

    page.get_by_label("a number").check()
    page.get_by_label("Message", exact=True).fill("Your check-up is tomorrow at 9:00.")
    expect(page.locator("#counter")).to_contain_text("GSM-7")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/orgs/{desk.org_id}/messages/.+"))
    expect(page.get_by_role("heading", name=f"Message to {NUMBER}")).to_be_visible()
    # The page refreshes itself while the message is in flight.
    expect(page.locator("[data-test=status]")).to_have_text("delivered", timeout=DELIVERY_WAIT_MS)
    expect(page.get_by_text("Handed off")).to_be_visible()
    expect(page.get_by_text("Delivered to the phone")).to_be_visible()
    assert_accessible(page)
    save_screenshot(page, "message")

    page.get_by_role("link", name="Messages", exact=True).click()
    first_row = page.locator("tbody tr").first
    expect(first_row.locator("[data-test=status]")).to_have_text("delivered")
    expect(first_row).to_contain_text("Your check-up is tomorrow")
    assert_accessible(page)
    save_screenshot(page, "messages")


def test_a_group_send_without_javascript_previews_then_queues(
    desk: Desk, browser_page: Page
) -> None:
    page = browser_page
    page.context.route("**/static/send.js", lambda route: route.abort())
    sign_in(page, desk.base_url, desk.editor)
    page.goto(f"{desk.base_url}/orgs/{desk.org_id}/send")
    page.get_by_label("a group").check()
    page.get_by_label("Group", exact=True).select_option(label="Midwives")
    page.get_by_label("Message", exact=True).fill("Hello {{contact.firstName}}")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#preview [data-test=preview-text]")).to_have_text("Hello Maria")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("1 message queued")
    assert_accessible(page)
    save_screenshot(page, "send-group")


def test_a_top_up_shows_operator_and_amount_then_is_sent(desk: Desk, browser_page: Page) -> None:
    page = browser_page
    sign_in(page, desk.base_url, desk.editor)
    page.get_by_role("link", name="Top-ups").click()
    page.get_by_label("Number (international").fill(f"+{NUMBER}")
    page.get_by_label("Largest amount").fill("20")
    page.get_by_role("button", name="Check operator and amount").click()
    plan = page.locator("[data-test=plan]")
    expect(plan).to_contain_text("PHP")
    assert_accessible(page)
    save_screenshot(page, "topups")
    page.get_by_role("button", name=re.compile(r"^Send .* for ")).click()
    expect(page).to_have_url(re.compile(rf"/orgs/{desk.org_id}/topups/.+"))
    expect(page.locator("[data-test=status]")).to_have_text("succeeded", timeout=DELIVERY_WAIT_MS)
    assert_accessible(page)
    save_screenshot(page, "topup")


def test_send_and_the_message_log_fit_a_phone_screen(desk: Desk, browser_page: Page) -> None:
    page = browser_page
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, desk.base_url, desk.editor)
    for path, heading in (("send", "Send an SMS"), ("messages", "Messages"), ("topups", "Top-ups")):
        page.goto(f"{desk.base_url}/orgs/{desk.org_id}/{path}")
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} is {overflow}px wider than the phone"
    assert_accessible(page)
    save_screenshot(page, "topups-phone")
