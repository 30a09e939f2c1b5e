"""The console's contacts pages over real HTTP: list, search, group and conditions filters,
paging, create/edit/delete, roles, isolation, exports and an import without JavaScript."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable

import httpx
from openpyxl import load_workbook

from tambuli.clock import FakeClock
from tambuli.contacts import importing
from tambuli.contacts import service as contacts
from tambuli.db.engine import Database
from tambuli.organizations.models import Role
from tests.conftest import OrgFactory
from tests.web.console_client import ConsoleBrowser, Person, csrf_token_of, make_person

Opener = Callable[[], ConsoleBrowser]


async def _org_with_contacts(
    db: Database, clock: FakeClock, make_org: OrgFactory, count: int
) -> tuple[int, list[int]]:
    """An organization with `count` contacts named Person N; every third is in "Volunteers",
    every other one speaks Tagalog."""
    org = await make_org(name="Contacts Org")
    lines = ["fullPhoneNumber,firstName,lastName,language,groups"]
    for n in range(count):
        group = "Volunteers" if n % 3 == 0 else ""
        language = "Tagalog" if n % 2 == 0 else "Cebuano"
        lines.append(f"63917{n:07d},Person,N{n},{language},{group}")
    report = await importing.import_contacts(
        db, clock, org.org_id, "\n".join(lines).encode("utf-8")
    )
    assert report.created == count
    found = await contacts.list_contacts_after(db, org.org_id, 0, count)
    return org.org_id, [c.id for c in found]


def _signed_in(open_console: Opener, person: Person) -> ConsoleBrowser:
    browser = open_console()
    assert browser.sign_in(person).status_code == 303
    return browser


def _shown_names(html: str) -> list[str]:
    return re.findall(r"Person N(\d+)</a>", html)


async def test_the_list_pages_through_contacts_and_filters_by_search_group_and_conditions(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org_id, _ = await _org_with_contacts(db, clock, make_org, 120)
    browser = _signed_in(open_console, await make_person(db, clock, org_id, Role.VIEWER))
    first = browser.page(f"/orgs/{org_id}/contacts")
    assert first.status_code == 200
    assert "120 contacts" in first.text and "Page 1 of 3" in first.text
    assert _shown_names(first.text)[:2] == ["0", "1"] and len(_shown_names(first.text)) == 50
    third = browser.page(f"/orgs/{org_id}/contacts?page=3")
    assert _shown_names(third.text) == [str(n) for n in range(100, 120)]
    searched = browser.page(f"/orgs/{org_id}/contacts?q=N17")
    assert _shown_names(searched.text) == ["17"]
    groups = await contacts.list_groups(db, org_id)
    grouped = browser.page(f"/orgs/{org_id}/contacts?group={groups[0].id}")
    assert "40 contacts of 120" in grouped.text
    built = browser.http.get(
        f"/orgs/{org_id}/contacts",
        params=[
            ("match", "all"),
            ("field", "language"),
            ("op", "eq"),
            ("value", "Cebuano"),
            ("field", "lastName"),
            ("op", "startswith"),
            ("value", "N1"),
            ("use", "builder"),
        ],
    )
    # N1, N11, N13, ..., N19 and N101 ... N119 (odd numbers speak Cebuano).
    assert "16 contacts of 120" in built.text
    conditions = (
        '{"all": [{"field": "language", "op": "eq", "value": "Cebuano"}, '
        '{"field": "lastName", "op": "startswith", "value": "N1"}]}'
    )
    assert json.loads(conditions) == json.loads(
        re.search(r'<textarea id="conditions"[^>]*>([^<]*)<', built.text)  # type: ignore[union-attr]
        .group(1)
        .replace("&#34;", '"')
    )
    advanced = browser.http.get(
        f"/orgs/{org_id}/contacts",
        params={"use": "advanced", "conditions": conditions, "page": "2"},
    )
    assert "16 contacts of 120" in advanced.text and "Page 1" not in advanced.text
    # The builder shows the typed JSON's conditions as its rows.
    assert '<option value="lastName" selected>' in advanced.text
    assert 'id="value-2" name="value" value="N1"' in advanced.text


async def test_invalid_conditions_show_the_services_error_and_keep_the_text(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org_id, _ = await _org_with_contacts(db, clock, make_org, 3)
    browser = _signed_in(open_console, await make_person(db, clock, org_id, Role.VIEWER))
    broken = browser.http.get(
        f"/orgs/{org_id}/contacts", params={"use": "advanced", "conditions": '{"all": ['}
    )
    assert broken.status_code == 400
    assert "conditions /: not valid JSON" in broken.text
    assert "{&#34;all&#34;: [" in broken.text
    unknown = browser.http.get(
        f"/orgs/{org_id}/contacts",
        params={"field": "customFields.Village", "op": "eq", "value": "x", "use": "builder"},
    )
    assert unknown.status_code == 400 and "Village" in unknown.text
    deeper = browser.http.get(
        f"/orgs/{org_id}/contacts",
        params={"use": "advanced", "conditions": '{"any": [{"field": "nope"}]}'},
    )
    assert deeper.status_code == 400 and "conditions /any/0" in deeper.text
    # A filter the rows cannot show stays in the JSON text only.
    assert "Field 2" not in deeper.text and "nope" in deeper.text


async def test_an_editor_creates_edits_and_deletes_a_contact_and_sees_the_services_refusal(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org = await make_org()
    group = await contacts.create_group(db, clock, org.org_id, "Mothers")
    village = await contacts.create_custom_field(db, clock, org.org_id, "Village")
    browser = _signed_in(open_console, await make_person(db, clock, org.org_id, Role.EDITOR))
    new = f"/orgs/{org.org_id}/contacts/new"
    refused = browser.submit(new, new, {"phone": "12345", "first_name": "Ana"})
    assert refused.status_code == 400
    assert 'role="alert"' in refused.text and "12345" in refused.text
    assert 'value="Ana"' in refused.text
    created = browser.submit(
        new,
        new,
        {
            "phone": "+639171234567",
            "first_name": "Ana",
            "last_name": "Cruz",
            "groups": str(group.id),
            f"field_{village.id}": "Poblacion",
        },
    )
    assert created.status_code == 303
    page_path = created.headers["location"].split("?")[0]
    contact_id = int(page_path.rsplit("/", 1)[1])
    stored = await contacts.get_contact(db, org.org_id, contact_id)
    assert (stored.first_name, stored.groups, stored.custom_fields) == (
        "Ana",
        (group.id,),
        {village.id: "Poblacion"},
    )
    bad_edit = browser.submit(page_path, page_path, {"phone": "+63917", "first_name": "Anna"})
    assert bad_edit.status_code == 400 and 'value="Anna"' in bad_edit.text
    edited = browser.submit(
        page_path,
        page_path,
        {"phone": "+639181234567", "first_name": "Anna", "language": "Ilocano"},
    )
    assert edited.status_code == 303
    assert "Saved." in browser.page(edited.headers["location"]).text
    stored = await contacts.get_contact(db, org.org_id, contact_id)
    assert (stored.phone, stored.first_name, stored.language, stored.groups) == (
        "639181234567",
        "Anna",
        "Ilocano",
        (),
    )
    deleted = browser.submit(page_path, f"{page_path}/delete", {})
    assert deleted.status_code == 303
    assert browser.page(page_path).status_code == 404


async def test_a_viewer_reads_contacts_but_cannot_change_or_import_them(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org_id, ids = await _org_with_contacts(db, clock, make_org, 2)
    browser = _signed_in(open_console, await make_person(db, clock, org_id, Role.VIEWER))
    page = browser.page(f"/orgs/{org_id}/contacts/{ids[0]}")
    assert page.status_code == 200 and "<fieldset disabled>" in page.text
    assert "Delete this contact" not in page.text
    token = csrf_token_of(page.text)
    for path in (f"/orgs/{org_id}/contacts/{ids[0]}", f"/orgs/{org_id}/contacts/{ids[0]}/delete"):
        answer = browser.http.post(path, data={"csrf_token": token, "phone": "+639171234567"})
        assert answer.status_code == 403
    assert browser.page(f"/orgs/{org_id}/contacts/new").status_code == 403
    assert browser.page(f"/orgs/{org_id}/contacts/import").status_code == 403
    groups = browser.page(f"/orgs/{org_id}/contacts/groups")
    assert groups.status_code == 200 and "Add group" not in groups.text
    assert len(await contacts.list_contacts_after(db, org_id, 0, 10)) == 2


async def test_another_organizations_contact_and_import_urls_answer_404(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org_id, ids = await _org_with_contacts(db, clock, make_org, 2)
    other = await make_org(name="Other")
    owner = await make_person(db, clock, org_id, Role.OWNER)
    browser = _signed_in(open_console, owner)
    upload = _upload(browser, org_id, b"phone\n639171234567\n", "one.csv")
    import_path = upload.headers["location"]
    outsider = _signed_in(open_console, await make_person(db, clock, other.org_id, Role.OWNER))
    # Their own organization's URL with another organization's contact or import.
    assert outsider.page(f"/orgs/{other.org_id}/contacts/{ids[0]}").status_code == 404
    assert (
        outsider.page(import_path.replace(f"/orgs/{org_id}/", f"/orgs/{other.org_id}/")).status_code
        == 404
    )
    # The other organization's URLs themselves.
    assert outsider.page(f"/orgs/{org_id}/contacts").status_code == 404
    assert outsider.page(f"/orgs/{org_id}/contacts/{ids[0]}").status_code == 404
    assert outsider.page(import_path).status_code == 404
    assert outsider.page(f"/orgs/{org_id}/contacts/export/csv").status_code == 404
    assert browser.page(f"/orgs/{org_id}/contacts/{2**63}").status_code == 404


async def test_the_export_holds_the_contacts_of_the_current_filter_as_csv_and_xlsx(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org_id, _ = await _org_with_contacts(db, clock, make_org, 30)
    browser = _signed_in(open_console, await make_person(db, clock, org_id, Role.VIEWER))
    params = {"q": "N2", "use": "builder", "field": "language", "op": "eq", "value": "Tagalog"}
    listed = browser.http.get(f"/orgs/{org_id}/contacts", params=params)
    link = re.search(r'href="([^"]*/export/csv\?[^"]*)"', listed.text)
    assert link is not None
    exported = browser.http.get(link.group(1).replace("&amp;", "&"))
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    # N2 and N20 ... N28 with an even number.
    assert sorted(r["lastName"] for r in rows) == ["N2", "N20", "N22", "N24", "N26", "N28"]
    assert {r["language"] for r in rows} == {"Tagalog"}
    workbook = browser.http.get(link.group(1).replace("&amp;", "&").replace("/csv?", "/xlsx?"))
    assert workbook.status_code == 200
    sheet = load_workbook(io.BytesIO(workbook.content), read_only=True).worksheets[0]
    values = list(sheet.iter_rows(values_only=True))
    assert len(values) == 7 and values[0][0] == "id"
    everyone = browser.page(f"/orgs/{org_id}/contacts/export/csv")
    assert len(everyone.text.strip().splitlines()) == 31


def _upload(browser: ConsoleBrowser, org_id: int, data: bytes, name: str) -> httpx.Response:
    token = csrf_token_of(browser.page(f"/orgs/{org_id}/contacts/import").text)
    return browser.http.post(
        f"/orgs/{org_id}/contacts/import",
        data={"csrf_token": token},
        files={"file": (name, data, "text/csv")},
    )


async def test_an_import_maps_columns_runs_and_reports_refused_rows_without_javascript(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org = await make_org()
    browser = _signed_in(open_console, await make_person(db, clock, org.org_id, Role.EDITOR))
    data = (
        b"Number,Name,Barangay,Notes\n"
        b"639171234567,Ana,Poblacion,x\n"
        b"12345,Bad,,\n"
        b"639181234567,Ben,San Roque,\n"
    )
    uploaded = _upload(browser, org.org_id, data, "people.csv")
    assert uploaded.status_code == 303
    path = uploaded.headers["location"]
    mapping_page = browser.page(path)
    assert "3 rows after the header" in mapping_page.text and "Poblacion" in mapping_page.text
    fields = {
        "target_0": "phone",
        "target_1": "firstName",
        "target_2": "field",
        "field_2": "Barangay",
        "target_3": "ignore",
    }
    wrong = browser.submit(path, path, {**fields, "target_0": "ignore"})
    assert wrong.status_code == 400 and "phone number" in wrong.text
    started = browser.submit(path, path, fields)
    assert started.status_code == 303
    status = browser.page(f"{path}/status").json()
    while status["state"] == "running":
        status = browser.page(f"{path}/status").json()
    assert status == {"state": "done", "done": 3, "total": 3, "percent": 100}
    result = browser.page(path)
    assert 'id="created-count">2<' in result.text and 'id="refused-count">1<' in result.text
    report = browser.page(f"{path}/refused.csv")
    assert report.status_code == 200 and "attachment" in report.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(report.text)))
    assert rows[0] == ["row", "error", "errorCode", "Number", "Name", "Barangay", "Notes"]
    assert rows[1][0] == "3" and rows[1][2] == "contact.invalidphonenumber"
    assert rows[1][3:] == ["12345", "Bad", "", ""]
    names = [c.first_name for c in await contacts.list_contacts_after(db, org.org_id, 0, 10)]
    assert names == ["Ana", "Ben"]


async def test_an_upload_that_is_not_a_contacts_file_is_refused_on_the_form(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org = await make_org()
    browser = _signed_in(open_console, await make_person(db, clock, org.org_id, Role.EDITOR))
    refused = _upload(browser, org.org_id, b"\x00\x01binary", "x.csv")
    assert refused.status_code == 400
    assert "binary data" in refused.text


async def test_an_upload_over_the_size_cap_is_refused_before_it_is_read(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org = await make_org()
    browser = _signed_in(open_console, await make_person(db, clock, org.org_id, Role.EDITOR))
    # The server runs with the default cap of 20 MiB.
    line = b"639171234567,Someone with a long name to fill the file quickly\n"
    data = b"phone,firstName\n" + line * (21 * 1_048_576 // len(line))
    refused = _upload(browser, org.org_id, data, "big.csv")
    assert refused.status_code == 400
    assert "upload limit" in refused.text
