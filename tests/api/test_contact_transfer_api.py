"""Contact import and export over HTTP against a real `tambuli serve`."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from tambuli.clock import FakeClock
from tambuli.contacts import service as contacts
from tambuli.contacts.models import ContactInput
from tambuli.contacts.phones import normalise_full_number
from tambuli.db.engine import Database
from tambuli.organizations.models import NewOrganization
from tests.conftest import OrgFactory
from tests.support.server import RunningServer, running_server

GLOBE = "639171234567"
SMART = "639181234567"
UPLOAD_LIMIT = 5000


def auth(org: NewOrganization) -> dict[str, str]:
    """The Authorization header of the organization's token."""
    return {"Authorization": f"Token {org.token}"}


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the shared test server."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60.0) as http:
        yield http


@pytest.fixture(scope="module")
def small_server(db: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server whose bodies are capped at 1000 bytes and uploads at UPLOAD_LIMIT bytes."""
    limits = {"TAMBULI_MAX_BODY_BYTES": "1000", "TAMBULI_MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT)}
    with running_server(db.url, tmp_path_factory.mktemp("small"), limits) as running:
        yield running


async def import_csv(
    client: httpx.AsyncClient, org: NewOrganization, data: bytes, **params: Any
) -> httpx.Response:
    """POST the file as multipart/form-data, as a browser form would."""
    return await client.post(
        f"/v1/organizations/{org.org_id}/contacts/import",
        params=params,
        files={"file": ("contacts.csv", data, "text/csv")},
        headers=auth(org),
    )


async def export(client: httpx.AsyncClient, org: NewOrganization, **params: str) -> httpx.Response:
    """GET the organization's export."""
    return await client.get(
        f"/v1/organizations/{org.org_id}/contacts/export", params=params, headers=auth(org)
    )


async def export_rows(client: httpx.AsyncClient, org: NewOrganization) -> list[dict[str, str]]:
    """The CSV export as one dict per contact."""
    response = await export(client, org)
    assert response.status_code == 200, response.text
    return list(csv.DictReader(io.StringIO(response.text)))


async def contact_count(db: Database, org_id: int) -> int:
    """How many contacts the organization has."""
    return len(await contacts.list_contacts_after(db, org_id, 0, 100_000))


# --- import -----------------------------------------------------------------------------------


async def test_a_multipart_upload_creates_the_good_rows_and_reports_the_bad_ones(
    client: httpx.AsyncClient, db: Database, make_org: OrgFactory
) -> None:
    org = await make_org()
    data = f"Phone,First Name,Crop\n{GLOBE},Ana,rice\nnope,Ben,corn\n{SMART},Cy,\n".encode()
    response = await import_csv(client, org, data)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["created"], body["failed"]) == (2, 1)
    [error] = body["errors"]
    assert error["row"] == 3
    assert error["errorCode"] == "contact.invalidphonenumber"
    assert isinstance(error["error"], str) and error["error"]
    assert await contact_count(db, org.org_id) == 2


async def test_a_text_csv_body_is_imported_into_the_group_given_in_the_query(
    client: httpx.AsyncClient, db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    group = await contacts.create_group(db, clock, org.org_id, "Survey")
    response = await client.post(
        f"/v1/organizations/{org.org_id}/contacts/import",
        params={"group": str(group.id)},
        content=f"fullPhoneNumber;firstName\r\n{GLOBE};Ana\r\n".encode(),
        headers={**auth(org), "Content-Type": "text/csv; charset=utf-8"},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"created": 1, "failed": 0, "errors": []}
    [contact] = await contacts.list_contacts_after(db, org.org_id, 0, 10)
    assert contact.groups == (group.id,)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (f"phone,firstName\n{GLOBE},Peña\n".encode("cp1252"), "CSV UTF-8"),
        (b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00", "workbook"),
        (b"phone\n\x00\x00\x00\x01\x02", "binary"),
        (b"firstName,lastName\nAna,Cruz\n", "No phone number column"),
        (f"{GLOBE},Ana\n".encode(), "header"),
        (b"", "empty"),
    ],
    ids=["cp1252", "xlsx", "binary", "no-phone-column", "no-header", "empty"],
)
async def test_an_unreadable_file_is_refused_with_400_and_creates_nothing(
    client: httpx.AsyncClient, db: Database, make_org: OrgFactory, data: bytes, fragment: str
) -> None:
    org = await make_org()
    response = await import_csv(client, org, data)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["errorCode"] == "contact.importfile"
    assert fragment in body["error"]
    assert await contact_count(db, org.org_id) == 0


async def test_an_upload_in_another_media_type_or_without_the_file_field_is_refused(
    client: httpx.AsyncClient, make_org: OrgFactory
) -> None:
    org = await make_org()
    path = f"/v1/organizations/{org.org_id}/contacts/import"
    as_json = await client.post(path, json={"file": "phone\n"}, headers=auth(org))
    assert as_json.status_code == 400
    assert as_json.json()["errorCode"] == "contact.importfile"
    wrong_field = await client.post(
        path, files={"upload": ("c.csv", b"phone\n", "text/csv")}, headers=auth(org)
    )
    assert wrong_field.status_code == 400
    assert '"file"' in wrong_field.json()["error"]


async def test_an_unknown_group_in_the_query_is_refused_before_anything_is_created(
    client: httpx.AsyncClient, db: Database, make_org: OrgFactory
) -> None:
    org = await make_org()
    response = await import_csv(client, org, f"phone\n{GLOBE}\n".encode(), group="999999999")
    assert response.status_code == 400
    assert response.json()["errorCode"] == "contact.unknowngroup"
    bad_id = await import_csv(client, org, f"phone\n{GLOBE}\n".encode(), group="x")
    assert bad_id.status_code == 400
    assert await contact_count(db, org.org_id) == 0


async def test_import_and_export_need_the_organizations_token(
    client: httpx.AsyncClient, make_org: OrgFactory
) -> None:
    org = await make_org()
    other = await make_org(name="Other org")
    path = f"/v1/organizations/{org.org_id}"
    for headers in ({}, auth(other), {"Authorization": "Token nope"}):
        upload = await client.post(
            f"{path}/contacts/import",
            content=f"phone\n{GLOBE}\n".encode(),
            headers={**headers, "Content-Type": "text/csv"},
        )
        assert upload.status_code == 401
        download = await client.get(f"{path}/contacts/export", headers=headers)
        assert download.status_code == 401


async def test_uploads_have_their_own_larger_size_limit(
    small_server: RunningServer, make_org: OrgFactory
) -> None:
    org = await make_org()
    rows = "".join(f"63917{n:07d}\n" for n in range(250))
    fits = f"phone\n{rows}".encode()
    assert 1000 < len(fits) <= UPLOAD_LIMIT - 500
    too_big = fits + b"".join(f"63918{n:07d}\n".encode() for n in range(500))
    async with httpx.AsyncClient(base_url=small_server.base_url, timeout=30.0) as http:
        accepted = await import_csv(http, org, fits)
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["created"] == 250
        refused = await import_csv(http, org, too_big)
        assert refused.status_code == 413
        assert refused.json()["errorCode"] == "request.toolarge"
        raw = await http.post(
            f"/v1/organizations/{org.org_id}/contacts/import",
            content=too_big,
            headers={**auth(org), "Content-Type": "text/csv"},
        )
        assert raw.status_code == 413
        json_body = await http.post(
            f"/v1/organizations/{org.org_id}/contacts/",
            content=b'{"fullPhoneNumber": "639171234567", "firstName": "' + b"x" * 2000 + b'"}',
            headers={**auth(org), "Content-Type": "application/json"},
        )
        assert json_body.status_code == 413


# --- export -----------------------------------------------------------------------------------


async def test_a_csv_export_lists_every_contact_with_groups_and_custom_fields(
    client: httpx.AsyncClient, db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    farmers = await contacts.create_group(db, clock, org.org_id, "Farmers")
    await contacts.create_contact(
        db,
        clock,
        org.org_id,
        normalise_full_number(GLOBE),
        ContactInput(
            first_name="Ana",
            last_name="Cruz",
            language="Tagalog",
            groups=[farmers.id],
            custom_fields_by_name={"Crop": "rice", "Country": "PH"},
            no_autodelete=True,
        ),
    )
    await contacts.create_contact(
        db, clock, org.org_id, normalise_full_number(SMART), ContactInput()
    )
    response = await export(client, org)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="contacts-' in response.headers["content-disposition"]
    assert response.headers["content-disposition"].endswith('.csv"')
    reader = csv.reader(io.StringIO(response.text))
    header = next(reader)
    assert header == [
        "id",
        "fullPhoneNumber",
        "firstName",
        "lastName",
        "language",
        "groups",
        "carrier",
        "createdAt",
        "noAutodelete",
        "Crop",
        "field:Country",
    ]
    ana, other = (dict(zip(header, row, strict=True)) for row in reader)
    assert ana["fullPhoneNumber"] == GLOBE
    assert (ana["firstName"], ana["lastName"], ana["language"]) == ("Ana", "Cruz", "Tagalog")
    assert (ana["groups"], ana["carrier"], ana["noAutodelete"]) == ("Farmers", "Globe", "true")
    assert (ana["Crop"], ana["field:Country"]) == ("rice", "PH")
    assert ana["createdAt"] == "2026-01-01T08:00:00.000000Z"
    assert (other["carrier"], other["groups"], other["Crop"]) == ("Smart", "", "")


async def test_an_xlsx_export_opens_with_the_same_rows_as_text(
    client: httpx.AsyncClient, db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    await contacts.create_contact(
        db,
        clock,
        org.org_id,
        normalise_full_number(GLOBE),
        ContactInput(first_name="=1+1", custom_fields_by_name={"Crop": "rice"}),
    )
    response = await export(client, org, format="xlsx")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert response.headers["content-disposition"].endswith('.xlsx"')
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    header, row = ([cell.value for cell in line] for line in sheet.iter_rows())
    values = dict(zip(header, row, strict=True))
    assert (values["fullPhoneNumber"], values["firstName"], values["Crop"]) == (
        GLOBE,
        "=1+1",
        "rice",
    )
    assert sheet["C2"].data_type == "s"
    csv_rows = await export_rows(client, org)
    assert [str(h) for h in header] == list(csv_rows[0])


async def test_an_unknown_export_format_is_refused(
    client: httpx.AsyncClient, make_org: OrgFactory
) -> None:
    response = await export(client, await make_org(), format="pdf")
    assert response.status_code == 400
    assert response.json()["errorCode"] == "request.invalidfield"


async def test_an_export_then_import_into_another_organization_gives_the_same_contacts(
    client: httpx.AsyncClient, db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    source = await make_org()
    await contacts.create_group(db, clock, source.org_id, "Youth")
    many = "".join(f"63917{n:07d},P{n},Farmers,c{n % 3}\n" for n in range(1200))
    special = f'{SMART},"Cruz, ""Ana""",Youth;Farmers,"=HYPERLINK(1)"\n{GLOBE},"two\nlines",,-5\n'
    seeded = await import_csv(
        client, source, f"phone,firstName,groups,Notes\n{many}{special}".encode()
    )
    assert seeded.json()["created"] == 1202, seeded.text
    await contacts.create_contact(
        db,
        clock,
        source.org_id,
        normalise_full_number("254712345678"),
        ContactInput(language="Swahili", no_autodelete=True, custom_fields_by_name={"ID": "x1"}),
    )
    exported = await export(client, source)
    target = await make_org(name="Target org")
    imported = await import_csv(client, target, exported.content)
    assert imported.json() == {"created": 1203, "failed": 0, "errors": []}

    def comparable(rows: list[dict[str, str]]) -> list[dict[str, object]]:
        # IDs, times and the order of a contact's groups (by group ID) belong to each org.
        return [
            {
                **{k: v for k, v in row.items() if k not in ("id", "createdAt")},
                "groups": set(row["groups"].split(";")),
            }
            for row in rows
        ]

    before = await export_rows(client, source)
    after = await export_rows(client, target)
    assert len(after) == 1203
    assert comparable(after) == comparable(before)
    # Spreadsheets would run the formula; the CSV escapes it and the import unescapes it.
    assert before[-2]["Notes"] == "-5" and before[-3]["Notes"] == "'=HYPERLINK(1)"
    fields = {f.name: f.id for f in await contacts.list_custom_fields(db, target.org_id)}
    copied = await contacts.list_contacts_after(db, target.org_id, 0, 10_000)
    assert copied[-3].custom_fields[fields["Notes"]] == "=HYPERLINK(1)"
