"""Every console page on a phone (390 px wide) in a real browser: the page itself never scrolls
sideways (wide tables scroll inside their own box), and axe finds no serious or critical
violation; the page of a person in no organization too."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, ViewportSize, expect

from tambuli.billing import service as billing
from tambuli.campaigns import service as campaigns
from tambuli.clock import FakeClock
from tambuli.contacts import phones
from tambuli.contacts import service as contacts
from tambuli.contacts.models import ContactInput
from tambuli.db.engine import Database
from tambuli.files import service as stored_files
from tambuli.files.models import Upload
from tambuli.organizations import service as organizations
from tambuli.organizations import users
from tambuli.organizations.models import Role
from tests.support.media import picture_png
from tests.support.server import RunningServer
from tests.web.conftest import assert_accessible, save_screenshot
from tests.web.console_client import Person, make_person

PHONE: ViewportSize = {"width": 390, "height": 844}


@dataclass(frozen=True)
class World:
    """An organization with a contact, a group, a campaign and a file; its owner, who is also an
    operator; and a person whose only organization removed them."""

    base_url: str
    org_id: int
    contact_id: int
    campaign_id: int
    owner: Person
    outsider: Person


@pytest.fixture
async def world(db: Database, clock: FakeClock, server: RunningServer) -> World:
    """Made before the browser starts."""
    org = await organizations.create_organization(db, clock, "Municipal Agriculture Office")
    await billing.credit_balance(db, clock, org.org_id, 20_000_000, "grant", "console")
    owner = await make_person(db, clock, org.org_id, Role.OWNER)
    await users.set_operator(db, owner.user_id, True)
    group = await contacts.create_group(db, clock, org.org_id, "Rice farmers")
    contact = await contacts.create_contact(
        db,
        clock,
        org.org_id,
        phones.normalise_full_number("639171234569"),
        ContactInput(first_name="Imelda", last_name="Dela Cruz-Villanueva", groups=[group.id]),
    )
    campaign = await campaigns.create_campaign(
        db,
        clock,
        org.org_id,
        {"name": "Planting advice", "kind": "drip", "steps": [{"message": "Plant this week"}]},
    )
    # A long name: the Files page's table must still fit the phone.
    poster = Upload("Planting calendar for the wet season, all barangays.png", picture_png())
    await stored_files.upload_files(
        db, clock, org.org_id, "posters", [poster], max_file_bytes=16 * 1_048_576
    )
    outsider = await make_person(db, clock, org.org_id, Role.VIEWER)
    await users.remove_member(db, org.org_id, outsider.user_id)
    return World(server.base_url, org.org_id, contact.id, campaign.id, owner, outsider)


def sign_in(page: Page, base_url: str, person: Person) -> None:
    """Fill and send the sign-in form."""
    page.goto(f"{base_url}/sign-in")
    page.get_by_label("Email").fill(person.email)
    page.get_by_label("Password").fill(person.password)
    page.get_by_role("button", name="Sign in").click()


def assert_fits_the_phone(page: Page) -> None:
    """The page is no wider than the screen: nothing makes the whole page scroll sideways."""
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    if overflow > 0:
        # The elements sticking out, innermost last, to say what to fix.
        wide = page.evaluate(
            "[...document.querySelectorAll('body *')]"
            ".filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)"
            ".filter(e => !e.parentElement.closest('.table-wrap'))"
            ".slice(-5).map(e => e.tagName + '.' + e.className)"
        )
        pytest.fail(f"{page.url} is {overflow}px wider than the phone: {wide}")
    # Message logs read as cards on a phone: their tables do not scroll sideways either.
    sideways = page.evaluate(
        "[...document.querySelectorAll('table.cards-on-phone')]"
        ".filter(t => t.parentElement.scrollWidth > t.parentElement.clientWidth + 1)"
        ".map(t => t.parentElement.getAttribute('aria-label'))"
    )
    assert not sideways, f"{page.url}: these tables scroll sideways on a phone: {sideways}"


def test_every_page_fits_a_phone_and_passes_the_accessibility_check(
    world: World, browser_page: Page
) -> None:
    page = browser_page
    page.set_viewport_size(PHONE)
    sign_in(page, world.base_url, world.owner)
    expect(page.get_by_role("heading", name="Municipal Agriculture Office")).to_be_visible()
    org = f"/orgs/{world.org_id}"
    paths = {
        f"{org}/": "",
        f"{org}/contacts": "",
        f"{org}/contacts/new": "",
        f"{org}/contacts/{world.contact_id}": "",
        f"{org}/contacts/groups": "",
        f"{org}/contacts/import": "",
        f"{org}/send": "",
        f"{org}/messages": "messages-phone",
        f"{org}/send/whatsapp": "",
        f"{org}/whatsapp": "",
        f"{org}/whatsapp/numbers": "",
        f"{org}/files": "files-phone",
        f"{org}/topups": "",
        f"{org}/campaigns": "",
        f"{org}/campaigns/new": "",
        f"{org}/campaigns/{world.campaign_id}": "",
        f"{org}/campaigns/{world.campaign_id}/edit": "",
        f"{org}/organization": "organization-phone",
        f"{org}/tokens": "",
        f"{org}/balance-history": "balance-history-phone",
        f"{org}/members": "",
        "/account": "",
        "/operator/orgs": "operator-organizations-phone",
        "/operator/prices": "",
        "/operator/channels": "operator-channels-phone",
        "/operator/inbound": "",
    }
    for path, screenshot in paths.items():
        answer = page.goto(f"{world.base_url}{path}")
        assert answer is not None and answer.ok, f"{path} answered {answer and answer.status}"
        assert_fits_the_phone(page)
        assert_accessible(page)
        if screenshot:
            save_screenshot(page, screenshot)


def test_a_person_in_no_organization_is_told_to_ask_an_owner(
    world: World, browser_page: Page
) -> None:
    page = browser_page
    sign_in(page, world.base_url, world.outsider)
    expect(page.get_by_role("heading", name="You are not in any organization yet")).to_be_visible()
    assert_accessible(page)
    save_screenshot(page, "no-organization")
    page.set_viewport_size(PHONE)
    assert_fits_the_phone(page)
