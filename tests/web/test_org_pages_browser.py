"""The organization and operator pages in a real browser (headless Chromium): what owners,
viewers and operators see and do, an accessibility check of every page, and screenshots."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect

from tambuli.billing import service as billing
from tambuli.campaigns.replies import find_runs_awaiting_reply_within
from tambuli.channels.base import InboundSms
from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tambuli.messaging import senders
from tambuli.messaging.inbound import record_inbound
from tambuli.organizations import service as organizations
from tambuli.organizations import users
from tambuli.organizations.models import Role
from tambuli.organizations.profile import update_profile
from tests.support.server import RunningServer
from tests.web.conftest import assert_accessible, save_screenshot
from tests.web.console_client import Person, make_person


@dataclass(frozen=True)
class World:
    """One organization with money movements, its owner, a viewer and an operator."""

    base_url: str
    org_id: int
    owner: Person
    viewer: Person
    operator: Person


@pytest.fixture
async def world(db: Database, clock: FakeClock, server: RunningServer) -> World:
    """Made before the browser starts (the sync Playwright API must not overlap the loop)."""
    org = await organizations.create_organization(db, clock, "Rural Health Unit Tagum")
    await update_profile(db, org.org_id, default_sender_id="RHU TAGUM")
    await senders.register_sender(db, clock, org.org_id, f"RHU{org.org_id}")
    for amount, reason in [(250_000_000, "bank transfer"), (12_500_000, "grant top-up")]:
        await billing.credit_balance(db, clock, org.org_id, amount, reason, "console")
    owner = await make_person(db, clock, org.org_id, Role.OWNER)
    viewer = await make_person(db, clock, org.org_id, Role.VIEWER)
    operator = await make_person(db, clock, org.org_id, Role.VIEWER)
    await users.set_operator(db, operator.user_id, True)
    # One operator message ID: however many tests make this world, the SMS is kept once.
    sms = InboundSms(
        "simulator", "639171234567", "29290", "Hello, is this the clinic?", clock.now(), "rhu-1"
    )
    await record_inbound(db, clock, [sms], find_runs_awaiting_reply_within)
    return World(server.base_url, org.org_id, owner, viewer, operator)


def sign_in(page: Page, base_url: str, person: Person) -> None:
    """Fill and send the sign-in form."""
    page.goto(f"{base_url}/sign-in")
    page.get_by_label("Email").fill(person.email)
    page.get_by_label("Password").fill(person.password)
    page.get_by_role("button", name="Sign in").click()


def test_an_owner_changes_settings_rotates_the_secret_and_manages_tokens(
    world: World, browser_page: Page
) -> None:
    page = browser_page
    sign_in(page, world.base_url, world.owner)
    page.get_by_role("link", name="Organization").click()
    expect(page.get_by_role("heading", name="Profile")).to_be_visible()
    expect(page.get_by_text(f"RHU{world.org_id}")).to_be_visible()
    page.get_by_label("Default sender ID").fill("way too long a sender")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("alert")).to_contain_text("sender ID")
    expect(page.get_by_label("Default sender ID")).to_have_value("way too long a sender")
    assert_accessible(page)
    save_screenshot(page, "organization-refused")
    page.get_by_label("Default sender ID").fill("RHU TAGUM")
    page.get_by_label("Opt-out keywords (comma-separated; empty for the defaults)").fill(
        "STOP, HINTO, TAMA NA"
    )
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status")).to_contain_text("Saved.")
    page.get_by_role("button", name="Create the secret").click()
    expect(page.locator("#webhook-secret")).to_be_visible()
    assert_accessible(page)
    save_screenshot(page, "organization")

    page.get_by_role("link", name="API tokens").click()
    page.get_by_role("button", name="Create a token").click()
    token = page.locator("#new-token").inner_text()
    assert len(token) > 30
    assert_accessible(page)
    save_screenshot(page, "tokens")
    page.get_by_role("button", name=f"Revoke the token starting {token[:8]}").click()
    expect(page.get_by_role("status")).to_contain_text("no longer works")

    page.get_by_role("link", name="Balance history").click()
    expect(page.get_by_text("grant top-up")).to_be_visible()
    expect(page.get_by_text("262.500000 USD")).to_be_visible()
    page.get_by_label("When the balance falls below (USD)").fill("50")
    page.get_by_label("Add (USD)").fill("100")
    page.get_by_role("button", name="Turn on or change").click()
    expect(page.get_by_text("On: below 50.000000 USD, 100.000000 USD is added.")).to_be_visible()
    assert_accessible(page)
    save_screenshot(page, "balance-history")

    page.get_by_role("link", name="Members").click()
    page.get_by_label(f"Role of {world.viewer.email}", exact=True).select_option("editor")
    page.get_by_role("button", name=f"Change the role of {world.viewer.email}").click()
    expect(page.get_by_label(f"Role of {world.viewer.email}", exact=True)).to_have_value("editor")
    page.get_by_label(f"Role of {world.owner.email}", exact=True).select_option("viewer")
    page.get_by_role("button", name=f"Change the role of {world.owner.email}").click()
    expect(page.get_by_role("alert")).to_contain_text("keeps at least one owner")
    assert_accessible(page)
    save_screenshot(page, "members-roles")


def test_a_viewer_reads_the_profile_but_has_no_controls(world: World, browser_page: Page) -> None:
    page = browser_page
    sign_in(page, world.base_url, world.viewer)
    page.get_by_role("link", name="Organization").click()
    expect(page.get_by_role("heading", name="Profile")).to_be_visible()
    assert page.get_by_role("link", name="API tokens").count() == 0
    assert page.locator("form[method=post]").count() == 1  # signing out only
    assert_accessible(page)
    save_screenshot(page, "organization-read-only")
    page.goto(f"{world.base_url}/operator/orgs")
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()


def test_an_operator_credits_a_balance_and_looks_at_prices_channels_and_inbound(
    world: World, browser_page: Page
) -> None:
    page = browser_page
    sign_in(page, world.base_url, world.operator)
    page.get_by_role("link", name="Operator").click()
    expect(page.get_by_role("heading", name="Organizations", exact=True)).to_be_visible()
    page.get_by_label("Organization ID").fill(str(world.org_id))
    page.get_by_label("Amount in USD (e.g. 25 or 0.50)").fill("10.000001")
    page.get_by_label("Reason").fill("cash deposit")
    page.get_by_role("button", name="Credit").click()
    expect(page.get_by_role("status")).to_contain_text("its balance is 272.500001 USD")
    assert_accessible(page)
    save_screenshot(page, "operator-organizations")

    page.get_by_role("link", name="Prices").click()
    expect(page.get_by_role("heading", name="Price list")).to_be_visible()
    assert_accessible(page)
    save_screenshot(page, "operator-prices")

    page.get_by_role("link", name="Channels and routes").click()
    expect(page.get_by_role("heading", name="Live state")).to_be_visible()
    expect(page.locator("#live-channels .state").first).to_have_text(re.compile(r"\w+"))
    assert_accessible(page)
    save_screenshot(page, "operator-channels")

    page.get_by_role("link", name="Unmatched inbound").click()
    expect(page.get_by_text("Hello, is this the clinic?")).to_be_visible()
    assert_accessible(page)
    save_screenshot(page, "operator-inbound")
