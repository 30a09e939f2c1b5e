"""The console in a real browser (headless Chromium): signing in and out, refusals, roles,
isolation, an accessibility check of every page, and a screenshot of each."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from tambuli.billing import service as billing
from tambuli.campaigns import service as campaigns
from tambuli.campaigns.subscription_intake import SubscriptionIntake, subscribe_contact
from tambuli.campaigns.subscriptions import SubscribeRequest
from tambuli.clock import FakeClock, SystemClock
from tambuli.contacts import phones
from tambuli.db.engine import Database
from tambuli.organizations import service as organizations
from tambuli.organizations.models import Role
from tambuli.organizations.profile import update_profile
from tests.support.server import RunningServer
from tests.support.traffic import PastMessage, insert_past_messages
from tests.web.conftest import assert_accessible, save_screenshot
from tests.web.console_client import Person, make_person


@dataclass(frozen=True)
class World:
    """Two organizations; the owner of the first also belongs to the second."""

    base_url: str
    org_id: int
    other_org_id: int
    owner: Person
    viewer: Person
    outsider: Person


def _traffic(now_days_ago: int, sent: int, clock: SystemClock) -> list[PastMessage]:
    at = clock.now() - timedelta(days=now_days_ago, minutes=5)
    past = []
    for i in range(sent):
        receipt = "confirmed" if i % 10 < 8 else ("failed" if i % 10 == 8 else "unknown")
        past.append(PastMessage(at, receipt=receipt, charged_micro=20_000))
    past.extend(PastMessage(at, direction="ingress", status="received") for _ in range(sent // 4))
    return past


@pytest.fixture
async def world(db: Database, clock: FakeClock, server: RunningServer) -> World:
    """Organizations, people and a month of traffic, made before the browser starts."""
    org = await organizations.create_organization(db, clock, "Barangay Health Volunteers")
    other = await organizations.create_organization(db, clock, "Other Cooperative")
    await billing.credit_balance(db, clock, org.org_id, 420_500_000, "test funds")
    owner = await make_person(db, clock, org.org_id, Role.OWNER)
    await make_person(db, clock, other.org_id, Role.OWNER)
    from tambuli.organizations import users

    await users.create_console_user(db, clock, other.org_id, owner.email, Role.VIEWER)
    viewer = await make_person(db, clock, org.org_id, Role.VIEWER)
    outsider = await make_person(db, clock, other.org_id, Role.EDITOR)
    wall = SystemClock()
    past: list[PastMessage] = []
    for days_ago in range(30):
        past.extend(_traffic(days_ago, 12 + (days_ago * 7) % 23, wall))
    await insert_past_messages(db, org.org_id, past)
    await launch_reminders(db, clock, org.org_id)
    return World(server.base_url, org.org_id, other.org_id, owner, viewer, outsider)


async def launch_reminders(db: Database, clock: FakeClock, org_id: int) -> None:
    """A launched two-step campaign with three subscribers (the server's workers send the
    first step)."""
    await update_profile(db, org_id, default_sender_id="BHW")
    steps = [
        {"message": "Your prenatal check-up is this week."},
        {"delay": {"unit": "week", "value": 4, "time": "09:00"}, "message": "Next check-up."},
    ]
    campaign = await campaigns.create_campaign(
        db, clock, org_id, {"name": "Prenatal check-up reminders", "kind": "drip", "steps": steps}
    )
    await campaigns.launch_campaign(db, clock, org_id, campaign.id)
    intake = SubscriptionIntake(db, clock, "")
    for number in ("639171230001", "639171230002", "639171230003"):
        request = SubscribeRequest(
            org_id=org_id,
            campaign_id=campaign.id,
            contact_id=None,
            phone=phones.normalise_full_number(number),
        )
        await subscribe_contact(intake, request)


def sign_in(page: Page, base_url: str, person: Person, password: str | None = None) -> None:
    """Fill and send the sign-in form."""
    page.goto(f"{base_url}/sign-in")
    page.get_by_label("Email").fill(person.email)
    page.get_by_label("Password").fill(password or person.password)
    page.get_by_role("button", name="Sign in").click()


def test_a_person_signs_in_looks_around_and_signs_out(world: World, browser_page: Page) -> None:
    page = browser_page
    page.goto(f"{world.base_url}/")
    expect(page).to_have_url(f"{world.base_url}/sign-in")
    assert_accessible(page)
    save_screenshot(page, "sign-in")

    sign_in(page, world.base_url, world.owner)
    expect(page).to_have_url(f"{world.base_url}/orgs/{world.org_id}/")
    expect(page.get_by_role("heading", name="Barangay Health Volunteers")).to_be_visible()
    # The campaign's first step may already have cost a few cents.
    expect(page.locator(".stat .big").first).to_contain_text(re.compile(r"42\d\.\d\d"))
    assert page.locator("svg.chart").count() == 2
    expect(page.get_by_text("Prenatal check-up reminders")).to_be_visible()
    expect(page.get_by_text(re.compile(r"of 3 finished"))).to_be_visible()
    assert_accessible(page)
    save_screenshot(page, "dashboard")

    page.get_by_role("link", name="Members").click()
    expect(page.get_by_role("heading", name="Add a person")).to_be_visible()
    page.get_by_label("Email", exact=True).fill("new.volunteer@example.org")
    page.get_by_label("Role", exact=True).select_option("viewer")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_text("/sign-in/link/")).to_be_visible()
    assert_accessible(page)
    save_screenshot(page, "members")

    page.get_by_role("link", name="Account").click()
    expect(page.get_by_role("heading", name="Change your password")).to_be_visible()
    assert_accessible(page)
    save_screenshot(page, "account")

    page.locator("details.switcher summary").click()
    page.locator("details.switcher").get_by_role(
        "link", name=re.compile("Other Cooperative")
    ).click()
    expect(page).to_have_url(f"{world.base_url}/orgs/{world.other_org_id}/")
    expect(page.get_by_role("heading", name="Other Cooperative")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{world.base_url}/sign-in")
    page.goto(f"{world.base_url}/orgs/{world.org_id}/")
    expect(page).to_have_url(f"{world.base_url}/sign-in")


def test_the_dashboard_fits_a_phone_screen(world: World, browser_page: Page) -> None:
    page = browser_page
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, world.base_url, world.owner)
    expect(page.get_by_role("heading", name="Barangay Health Volunteers")).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the phone"
    assert_accessible(page)
    save_screenshot(page, "dashboard-phone")


def test_a_wrong_password_is_refused_in_the_browser(world: World, browser_page: Page) -> None:
    page = browser_page
    sign_in(page, world.base_url, world.owner, password="not the right password")
    expect(page.get_by_role("alert")).to_contain_text("The email or password is not right")
    expect(page).to_have_url(f"{world.base_url}/sign-in")
    assert_accessible(page)
    save_screenshot(page, "sign-in-refused")


def test_a_form_with_a_stale_csrf_token_is_refused(world: World, browser_page: Page) -> None:
    page = browser_page
    page.goto(f"{world.base_url}/sign-in")
    page.locator("input[name=csrf_token]").evaluate("input => { input.value = 'stale'; }")
    page.get_by_label("Email").fill(world.owner.email)
    page.get_by_label("Password").fill(world.owner.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="This form has expired")).to_be_visible()
    assert_accessible(page)
    save_screenshot(page, "csrf-refused")
    page.goto(f"{world.base_url}/orgs/{world.org_id}/")
    expect(page).to_have_url(f"{world.base_url}/sign-in")


def test_a_viewer_cannot_change_anything(world: World, browser_page: Page) -> None:
    page = browser_page
    sign_in(page, world.base_url, world.viewer)
    page.goto(f"{world.base_url}/orgs/{world.org_id}/members")
    expect(page.get_by_role("heading", name="People")).to_be_visible()
    assert page.get_by_role("button", name="Add", exact=True).count() == 0
    assert page.locator("form[method=post]").count() == 1  # signing out only
    # Sending the owner's form anyway, with the viewer's own valid CSRF token, is refused.
    page.evaluate(
        """orgId => {
            const form = document.createElement('form');
            form.method = 'post';
            form.action = `/orgs/${orgId}/members`;
            const token = document.querySelector('input[name=csrf_token]').cloneNode();
            const email = Object.assign(document.createElement('input'),
                {name: 'email', value: 'planted@example.org'});
            const role = Object.assign(document.createElement('input'),
                {name: 'role', value: 'owner'});
            form.append(token, email, role);
            document.body.append(form);
            form.submit();
        }""",
        world.org_id,
    )
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    assert_accessible(page)
    save_screenshot(page, "forbidden")


def test_another_organizations_pages_are_not_found_even_by_url(
    world: World, browser_page: Page
) -> None:
    page = browser_page
    sign_in(page, world.base_url, world.outsider)
    expect(page).to_have_url(f"{world.base_url}/orgs/{world.other_org_id}/")
    for path in (f"/orgs/{world.org_id}/", f"/orgs/{world.org_id}/members"):
        page.goto(f"{world.base_url}{path}")
        expect(page.get_by_role("heading", name="Not found")).to_be_visible()
        assert "Barangay Health Volunteers" not in page.content()
        assert world.owner.email not in page.content()
    assert_accessible(page)
    save_screenshot(page, "not-found")


def test_a_new_person_signs_in_with_a_one_time_link_and_chooses_a_password(
    world: World, browser_page: Page
) -> None:
    page = browser_page
    sign_in(page, world.base_url, world.owner)
    page.goto(f"{world.base_url}/orgs/{world.org_id}/members")
    page.get_by_label("Email", exact=True).fill("midwife@example.org")
    page.get_by_role("button", name="Add", exact=True).click()
    link = page.locator("code.link").inner_text()
    page.get_by_role("button", name="Sign out").click()

    page.goto(link)
    expect(page.get_by_role("heading", name="Sign in with a one-time link")).to_be_visible()
    assert_accessible(page)
    save_screenshot(page, "sign-in-link")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{world.base_url}/account")
    expect(page.get_by_role("heading", name="Choose a password")).to_be_visible()
    page.get_by_label("New password", exact=False).first.fill("a midwife's long password")
    page.get_by_label("New password again").fill("a midwife's long password")
    page.get_by_role("button", name="Save password").click()
    expect(page.get_by_role("status")).to_contain_text("Your password is changed")
    assert_accessible(page)
    save_screenshot(page, "account-password-set")

    page.goto(link)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("unknown, used or expired")
