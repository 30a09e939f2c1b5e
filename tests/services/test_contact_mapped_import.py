"""Importing a CSV or XLSX file with chosen columns, into a real database; exporting a filter."""

from __future__ import annotations

import io

import pytest
from openpyxl import Workbook

from tambuli.clock import FakeClock
from tambuli.contacts import exporting, mapped_import
from tambuli.contacts import service as contacts
from tambuli.contacts.conditions import parse_conditions
from tambuli.contacts.mapped_import import Mapping, Target
from tambuli.contacts.models import ContactFilter
from tambuli.db.engine import Database
from tambuli.errors import InvalidImportFile
from tests.conftest import OrgFactory


def xlsx_of(rows: list[list[object]]) -> bytes:
    """A workbook whose first sheet holds the rows."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_a_csv_upload_gives_its_header_a_preview_and_a_guessed_mapping() -> None:
    data = b"Mobile,Given,Surname,Barangay\n639171234567,Ana,Cruz,Poblacion\n\n639181234567,Ben,,\n"
    table = mapped_import.read_uploaded_table(data)
    assert table.header == ["Mobile", "Given", "Surname", "Barangay"]
    assert table.preview() == [
        ["639171234567", "Ana", "Cruz", "Poblacion"],
        ["639181234567", "Ben", "", ""],
    ]
    assert [n for n, _ in table.records] == [2, 4]
    assert mapped_import.guess_mapping(table.header) == [
        Mapping(Target.PHONE),
        Mapping(Target.FIELD, "Given"),
        Mapping(Target.FIELD, "Surname"),
        Mapping(Target.FIELD, "Barangay"),
    ]


def test_an_xlsx_upload_reads_its_first_sheet_with_numbers_as_digits() -> None:
    table = mapped_import.read_uploaded_table(
        xlsx_of([["phone", "firstName"], [639171234567, "Ana"], [None, None], ["", "x"]])
    )
    assert table.header == ["phone", "firstName"]
    assert table.records == [(2, ["639171234567", "Ana"]), (4, ["", "x"])]


def test_a_mapping_without_a_phone_column_or_with_a_target_twice_is_refused() -> None:
    table = mapped_import.read_uploaded_table(b"a,b\n1,2\n")
    with pytest.raises(InvalidImportFile, match="phone number"):
        mapped_import.write_mapped_csv(table, [Mapping(Target.FIRST_NAME), Mapping(Target.IGNORE)])
    with pytest.raises(InvalidImportFile, match="both mapped"):
        mapped_import.write_mapped_csv(table, [Mapping(Target.PHONE), Mapping(Target.PHONE)])
    with pytest.raises(InvalidImportFile, match="name the custom field"):
        mapped_import.write_mapped_csv(table, [Mapping(Target.PHONE), Mapping(Target.FIELD)])


async def test_a_mapped_import_creates_contacts_and_reports_refused_rows_with_their_cells(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    data = (
        b"Name,Number,Notes,Village\n"
        b'Ana,639171234567,"two\nlines",Poblacion\n'
        b"Bad,12345,,\n"
        b"Ben,639181234567,,San Roque\n"
        b"Cy,not a number,,\n"
    )
    table = mapped_import.read_uploaded_table(data)
    mapping = [
        Mapping(Target.FIRST_NAME),
        Mapping(Target.PHONE),
        Mapping(Target.IGNORE),
        Mapping(Target.FIELD, "Village"),
    ]
    seen: list[int] = []

    async def hear_progress(done: int) -> None:
        seen.append(done)

    report = await mapped_import.import_mapped_contacts(
        db, clock, org.org_id, table, mapping, hear_progress
    )
    assert (report.created, report.failed) == (2, 2)
    assert [(r.row, r.cells[0], r.error_code) for r in report.refused] == [
        (4, "Bad", "contact.invalidphonenumber"),
        (6, "Cy", "contact.invalidphonenumber"),
    ]
    assert seen == [4]
    found = await contacts.list_contacts_after(db, org.org_id, 0, 10)
    fields = await contacts.list_custom_fields(db, org.org_id)
    village = next(f.id for f in fields if f.name == "Village")
    assert [(c.first_name, c.phone, c.custom_fields[village]) for c in found] == [
        ("Ana", "639171234567", "Poblacion"),
        ("Ben", "639181234567", "San Roque"),
    ]
    text = mapped_import.render_refused_csv(table.header, report.refused)
    assert text.splitlines()[0] == "row,error,errorCode,Name,Number,Notes,Village"
    assert text.splitlines()[1].startswith("4,")


async def test_an_export_of_a_filter_holds_only_the_matching_contacts(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    table = mapped_import.read_uploaded_table(
        b"phone,language\n639171234567,Tagalog\n639181234567,Cebuano\n639171234568,Tagalog\n"
    )
    await mapped_import.import_mapped_contacts(
        db, clock, org.org_id, table, mapped_import.guess_mapping(table.header)
    )
    wanted = ContactFilter(
        conditions=parse_conditions('{"field": "language", "op": "eq", "value": "Tagalog"}')
    )
    pieces = [p async for p in exporting.stream_contacts_csv(db, org.org_id, wanted)]
    lines = "".join(pieces).splitlines()
    assert len(lines) == 3
    assert all("Tagalog" in line for line in lines[1:])
