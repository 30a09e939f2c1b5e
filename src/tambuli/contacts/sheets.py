"""Contacts exports: the header and rows of an export, written as CSV or XLSX.

Pure: contacts in, text and bytes out; exports read back by transfer.py's import rules.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell

from tambuli.contacts.models import Contact, CustomField, fold_name
from tambuli.contacts.transfer import (
    CUSTOM_FIELD_PREFIX,
    GROUP_SEPARATOR,
    escape_cell,
    is_reserved_header,
)
from tambuli.errors import InvalidField

# Excel's last row; spreadsheet programs refuse or cut longer sheets.
MAX_XLSX_ROWS = 1_048_576
EXPORT_COLUMNS = (
    "id",
    "fullPhoneNumber",
    "firstName",
    "lastName",
    "language",
    "groups",
    "carrier",
    "createdAt",
    "noAutodelete",
)


@dataclass(frozen=True)
class ExportLayout:
    """The custom field columns of an export: a header each and its field IDs, oldest first."""

    field_columns: tuple[tuple[str, tuple[int, ...]], ...]


def plan_export(fields: Iterable[CustomField]) -> ExportLayout:
    """One column per custom field name (ignoring case), headed by the oldest field's name."""
    columns: dict[str, tuple[str, list[int]]] = {}
    for found in sorted(fields, key=lambda f: f.id):
        columns.setdefault(fold_name(found.name), (found.name, []))[1].append(found.id)
    return ExportLayout(
        tuple((name_custom_column(name), tuple(ids)) for name, ids in columns.values())
    )


def name_custom_column(name: str) -> str:
    """The header of a custom field's column that an import reads back as that field."""
    return CUSTOM_FIELD_PREFIX + name if is_reserved_header(name) else name


def render_header(layout: ExportLayout) -> list[str]:
    """The header line of an export."""
    return [*EXPORT_COLUMNS, *(name for name, _ in layout.field_columns)]


def render_contact_row(
    contact: Contact, layout: ExportLayout, group_names: dict[int, str]
) -> list[str]:
    """A contact as a line of an export, in the order of render_header."""
    groups = GROUP_SEPARATOR.join(_name_group(g, group_names) for g in contact.groups)
    values = [
        next((contact.custom_fields[i] for i in ids if contact.custom_fields.get(i)), "")
        for _, ids in layout.field_columns
    ]
    return [
        str(contact.id),
        contact.phone,
        contact.first_name,
        contact.last_name,
        contact.language,
        groups,
        contact.carrier,
        _format_time(contact.created_at),
        "true" if contact.no_autodelete else "false",
        *values,
    ]


def _name_group(group_id: int, group_names: dict[int, str]) -> str:
    name = group_names.get(group_id)
    # A name the separator would split is written as the ID, which imports into the same org.
    return name if name and GROUP_SEPARATOR not in name else str(group_id)


def _format_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def render_csv(rows: Iterable[list[str]]) -> str:
    """CSV text (RFC 4180, CRLF line ends) of rows, with formula-like cells escaped."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows([escape_cell(cell) for cell in row] for row in rows)
    return buffer.getvalue()


class ContactsWorkbook:
    """An XLSX export written row by row (openpyxl write-only mode); every cell is text."""

    def __init__(self) -> None:
        self._book = Workbook(write_only=True)
        self._sheet = self._book.create_sheet("Contacts")
        self._row_count = 0

    def append_rows(self, rows: Iterable[list[str]]) -> None:
        """Add rows below the ones already written; InvalidField past a sheet's last row."""
        for row in rows:
            self._row_count += 1
            if self._row_count > MAX_XLSX_ROWS:
                raise InvalidField(
                    f"An XLSX sheet holds at most {MAX_XLSX_ROWS} rows: export as CSV",
                    {"field": "format"},
                )
            self._sheet.append([self._text_cell(value) for value in row])

    def _text_cell(self, value: str) -> Cell:
        cell = WriteOnlyCell(self._sheet, value=ILLEGAL_CHARACTERS_RE.sub("", value))
        # Text, never a formula or a number: "=…" stays inert and phone numbers keep every digit.
        cell.data_type = "s"
        return cell

    def finish(self) -> bytes:
        """The workbook file; no rows may be added afterwards."""
        buffer = io.BytesIO()
        self._book.save(buffer)
        return buffer.getvalue()
