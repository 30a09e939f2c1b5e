"""Writing contacts exports: columns, rows, CSV escaping and XLSX text cells."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from openpyxl import load_workbook

from tambuli.contacts.models import Contact, CustomField
from tambuli.contacts.sheets import (
    ContactsWorkbook,
    name_custom_column,
    plan_export,
    render_contact_row,
    render_csv,
    render_header,
)
from tambuli.contacts.transfer import (
    ImportedRow,
    iter_records,
    map_columns,
    read_contacts_file,
    take_contact_rows,
)

GLOBE = "639171234567"
SMART = "639181234567"


def only_rows(text: str) -> list[ImportedRow]:
    """The records of a file read as an import would; all must be good."""
    source = read_contacts_file(text.encode())
    rows = take_contact_rows(source.columns, iter_records(source), 10_000)
    assert all(isinstance(row, ImportedRow) for row in rows), rows
    return [row for row in rows if isinstance(row, ImportedRow)]


CREATED = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)


def make_contact(**changes: object) -> Contact:
    """A contact as the store returns it."""
    values: dict[str, object] = {
        "id": 7,
        "org_id": 1,
        "phone": GLOBE,
        "region": "PH",
        "carrier": "Globe",
        "first_name": "Ana",
        "last_name": "Cruz",
        "language": "",
        "no_autodelete": False,
        "invalid": False,
        "groups": (),
        "custom_fields": {},
        "created_at": CREATED,
        "updated_at": CREATED,
        "last_use_at": CREATED,
    }
    values.update(changes)
    return Contact(**values)  # type: ignore[arg-type]


def field(field_id: int, name: str) -> CustomField:
    """A custom field definition."""
    return CustomField(id=field_id, name=name, created_at=CREATED)


def test_custom_fields_named_like_builtin_columns_get_a_prefix_that_imports_read_back() -> None:
    assert name_custom_column("Crop") == "Crop"
    for name in ("Country", "mobile", "ID", "field:x"):
        header = name_custom_column(name)
        assert header == f"field:{name}"
        assert map_columns(["phone", header]).custom == ((1, name),)


def test_fields_with_the_same_name_share_one_column_with_the_oldest_value_first() -> None:
    layout = plan_export([field(5, "crop"), field(3, "Crop"), field(4, "Farm")])
    assert render_header(layout)[-2:] == ["Crop", "Farm"]
    contact = make_contact(custom_fields={5: "corn", 4: "Lipa"})
    assert render_contact_row(contact, layout, {})[-2:] == ["corn", "Lipa"]
    older = make_contact(custom_fields={3: "rice", 5: "corn"})
    assert render_contact_row(older, layout, {})[-2] == "rice"


def test_an_exported_row_lists_group_names_and_ids_for_names_with_the_separator() -> None:
    contact = make_contact(groups=(1, 2, 3), no_autodelete=True)
    row = render_contact_row(contact, plan_export([]), {1: "Farmers", 2: "A;B"})
    assert row == [
        "7",
        GLOBE,
        "Ana",
        "Cruz",
        "",
        "Farmers;2;3",
        "Globe",
        "2026-01-01T08:00:00.000000Z",
        "true",
    ]


def test_an_exported_csv_reads_back_as_the_same_contacts() -> None:
    layout = plan_export([field(1, "Crop"), field(2, "Country")])
    contacts = [
        make_contact(groups=(1,), custom_fields={1: "=rice", 2: "PH"}, no_autodelete=True),
        make_contact(id=8, phone=SMART, first_name="Ben, Jr.", last_name='"B"', language="Cebuano"),
    ]
    names = {1: "Farmers"}
    text = render_csv(
        [render_header(layout), *(render_contact_row(c, layout, names) for c in contacts)]
    )
    assert "'=rice" in text
    first, second = only_rows(text)
    assert (first.phone.digits, first.fields.no_autodelete, first.group_refs) == (
        GLOBE,
        True,
        ("Farmers",),
    )
    assert first.fields.custom_fields_by_name == {"Crop": "=rice", "Country": "PH"}
    assert (second.fields.first_name, second.fields.last_name, second.fields.language) == (
        "Ben, Jr.",
        '"B"',
        "Cebuano",
    )


def test_an_xlsx_export_holds_every_cell_as_text_without_formulas() -> None:
    book = ContactsWorkbook()
    book.append_rows([["id", "fullPhoneNumber", "firstName"], ["7", GLOBE, "=1+1\x01"]])
    sheet = load_workbook(io.BytesIO(book.finish())).active
    assert sheet is not None
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows == [["id", "fullPhoneNumber", "firstName"], ["7", GLOBE, "=1+1"]]
    assert {cell.data_type for row in sheet.iter_rows() for cell in row} == {"s"}
