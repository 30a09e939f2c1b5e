"""The contacts pages in headless Chromium: a 1,000-contact import with two bad rows from upload
to report, the list and its filters, the contact form, groups, each checked with axe and kept as
a screenshot."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, Route, expect

from tambuli.clock import FakeClock
from tambuli.contacts import service as contacts
from tambuli.db.engine import Database
from tambuli.organizations import service as organizations
from tambuli.organizations.models import Role
from tests.support.server import RunningServer
from tests.web.conftest import assert_accessible, save_screenshot
from tests.web.console_client import Person, make_person
from tests.web.test_console_browser import sign_in


@dataclass(frozen=True)
class World:
    """An organization with an editor and a viewer, and an editor of another one."""

    base_url: str
    org_id: int
    editor: Person
    viewer: Person
    outsider: Person


@pytest.fixture
async def world(db: Database, clock: FakeClock, server: RunningServer) -> World:
    """The people, a group and a custom field, made before the browser starts."""
    org = await organizations.create_organization(db, clock, "Barangay Health Volunteers")
    other = await organizations.create_organization(db, clock, "Other Cooperative")
    await contacts.create_group(db, clock, org.org_id, "Mothers")
    await contacts.create_custom_field(db, clock, org.org_id, "Barangay")
    editor = await make_person(db, clock, org.org_id, Role.EDITOR)
    viewer = await make_person(db, clock, org.org_id, Role.VIEWER)
    outsider = await make_person(db, clock, other.org_id, Role.EDITOR)
    return World(server.base_url, org.org_id, editor, viewer, outsider)


def _thousand_contacts(path: Path) -> Path:
    """A CSV of 1,000 records, of which rows 101 and 702 (file lines) have bad numbers."""
    lines = ["Mobile,Given name,Family name,Barangay,Tags"]
    for n in range(1000):
        number = f"63917{n:07d}"
        if n == 99:
            number = "12345"
        if n == 700:
            number = "6.39172E+11"
        barangay = ("Poblacion", "San Roque", "Mabini")[n % 3]
        tags = "Mothers" if n % 4 == 0 else ""
        lines.append(f"{number},Maria,Santos {n},{barangay},{tags}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_an_editor_imports_1000_contacts_with_two_bad_rows_and_reads_the_report(
    world: World, browser_page: Page, tmp_path: Path
) -> None:
    page = browser_page
    sign_in(page, world.base_url, world.editor)
    page.get_by_role("link", name="Contacts").click()
    expect(page.get_by_role("heading", name="Contacts", exact=True)).to_be_visible()
    page.get_by_role("link", name="Import", exact=True).click()
    expect(page.get_by_role("heading", name="1. Upload a file")).to_be_visible()
    assert_accessible(page)
    save_screenshot(page, "contacts-import-upload")

    page.get_by_label("CSV or XLSX file").set_input_files(
        str(_thousand_contacts(tmp_path / "volunteers.csv"))
    )
    page.get_by_role("button", name="Upload and choose columns").click()
    expect(page.get_by_text("1,000 rows after the header line")).to_be_visible()
    # The preview shows the first rows under their columns.
    expect(page.get_by_role("cell", name="Santos 0", exact=True)).to_be_visible()
    expect(page.get_by_label("Column Mobile holds")).to_have_value("phone")
    page.get_by_label("Column Given name holds").select_option("firstName")
    page.get_by_label("Column Family name holds").select_option("lastName")
    expect(page.get_by_label("Column Barangay holds")).to_have_value("field")
    page.get_by_label("Column Tags holds").select_option("groups")
    assert_accessible(page)
    save_screenshot(page, "contacts-import-mapping")

    # Hold the progress bar's status answers so that the running page can be looked at.
    held: list[Route] = []
    page.route("**/status", lambda route: held.append(route))
    page.get_by_role("button", name="Import 1,000 rows").click()
    expect(
        page.get_by_role("heading", name="Import finished").or_(
            page.get_by_role("heading", name="3. Importing")
        )
    ).to_be_visible()
    if page.get_by_role("heading", name="3. Importing").count():
        expect(page.get_by_label("Rows imported")).to_be_visible()
        assert_accessible(page)
        save_screenshot(page, "contacts-import-progress")
    # Removing the route lets the held requests through.
    page.unroute("**/status")
    expect(page.get_by_role("heading", name="Import finished")).to_be_visible()
    expect(page.locator("#created-count")).to_have_text("998")
    expect(page.locator("#refused-count")).to_have_text("2")
    expect(page.get_by_role("cell", name="101", exact=True)).to_be_visible()
    assert_accessible(page)
    save_screenshot(page, "contacts-import-result")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download the refused rows (CSV)").click()
    report = Path(download_info.value.path()).read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(report)))
    assert rows[0][:3] == ["row", "error", "errorCode"]
    assert [(r[0], r[2], r[3]) for r in rows[1:]] == [
        ("101", "contact.invalidphonenumber", "12345"),
        ("702", "contact.invalidphonenumber", "6.39172E+11"),
    ]
    assert "spreadsheet" in rows[2][1]

    page.get_by_role("link", name="Go to the contacts").click()
    expect(page.get_by_role("heading", name="998 contacts", exact=True)).to_be_visible()
    expect(page.get_by_text("Page 1 of 20")).to_be_visible()
    assert_accessible(page)
    save_screenshot(page, "contacts-list")


def test_an_editor_filters_edits_and_deletes_contacts(world: World, browser_page: Page) -> None:
    page = browser_page
    sign_in(page, world.base_url, world.editor)
    base = f"{world.base_url}/orgs/{world.org_id}/contacts"
    page.goto(f"{base}/new")
    page.get_by_label("Phone number").fill("12345")
    page.get_by_label("First name").fill("Ana")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.get_by_label("First name")).to_have_value("Ana")
    assert_accessible(page)
    save_screenshot(page, "contact-refused")
    page.get_by_label("Phone number").fill("+639171234567")
    page.get_by_label("Last name").fill("Cruz")
    page.get_by_label("Mothers").check()
    page.get_by_label("Barangay").fill("Poblacion")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_text("Saved.")).to_be_visible()
    assert_accessible(page)
    save_screenshot(page, "contact-edit")
    page.goto(f"{base}/new")
    page.get_by_label("Phone number").fill("+639181234567")
    page.get_by_label("First name").fill("Ben")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_text("Saved.")).to_be_visible()

    page.goto(base)
    page.get_by_label("Field 1").select_option("customFields.Barangay")
    page.get_by_label("Operator 1").select_option("eq")
    page.get_by_label("Value 1").fill("Poblacion")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.get_by_role("heading", name="1 contact of 2", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Ana Cruz")).to_be_visible()
    page.get_by_text("Advanced: conditions as JSON").click()
    page.get_by_label("Conditions (JSON").fill('{"any": [{"field": "nope"}]}')
    page.get_by_role("button", name="Search with this JSON").click()
    expect(page.get_by_role("alert")).to_contain_text("conditions")
    assert_accessible(page)
    save_screenshot(page, "contacts-filter-refused")

    page.goto(base)
    page.get_by_role("link", name="Ben").click()
    page.get_by_role("button", name="Delete this contact").click()
    expect(page.get_by_text("The contact is deleted.")).to_be_visible()
    expect(page.get_by_role("heading", name="1 contact", exact=True)).to_be_visible()

    page.get_by_role("link", name="Groups and fields").click()
    page.get_by_label("New group's name").fill("Fathers")
    page.get_by_role("button", name="Add group").click()
    expect(page.get_by_role("link", name="Fathers")).to_be_visible()
    assert_accessible(page)
    save_screenshot(page, "contacts-groups")


def test_the_contacts_list_fits_a_phone_screen_and_a_viewer_only_reads(
    world: World, browser_page: Page
) -> None:
    page = browser_page
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, world.base_url, world.viewer)
    page.goto(f"{world.base_url}/orgs/{world.org_id}/contacts")
    expect(page.get_by_role("heading", name="Contacts", exact=True)).to_be_visible()
    assert page.get_by_role("link", name="New contact").count() == 0
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the phone"
    assert_accessible(page)
    save_screenshot(page, "contacts-list-phone")


def test_another_organizations_contacts_are_not_found(world: World, browser_page: Page) -> None:
    page = browser_page
    sign_in(page, world.base_url, world.outsider)
    page.goto(f"{world.base_url}/orgs/{world.org_id}/contacts")
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    assert "Barangay Health Volunteers" not in page.content()
