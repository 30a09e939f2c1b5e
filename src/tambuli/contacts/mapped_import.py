"""Import a CSV or XLSX file with columns the person chose: read its header and first rows for a
preview, then import it with a mapping (column -> phone, name, language, groups, custom field or
nothing) through the same import as the API's.

The mapped file is rewritten as the CSV the import reads (one line per record, the chosen
headers), so every rule and error text of the API's import applies unchanged.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from openpyxl import load_workbook

from tambuli.clock import Clock
from tambuli.contacts import importing, transfer
from tambuli.contacts.importing import ImportReport
from tambuli.contacts.models import check_text
from tambuli.db.engine import Database
from tambuli.errors import InvalidImportFile

PREVIEW_ROWS = 5
_XLSX_SIGNATURE = b"PK\x03\x04"


class Target(StrEnum):
    """What a column of an uploaded file becomes."""

    PHONE = "phone"
    FIRST_NAME = "firstName"
    LAST_NAME = "lastName"
    LANGUAGE = "language"
    GROUPS = "groups"
    FIELD = "field"
    IGNORE = "ignore"


# The header the import reads for each built-in target.
_HEADERS = {
    Target.PHONE: transfer.Column.FULL_PHONE.value,
    Target.FIRST_NAME: transfer.Column.FIRST_NAME.value,
    Target.LAST_NAME: transfer.Column.LAST_NAME.value,
    Target.LANGUAGE: transfer.Column.LANGUAGE.value,
    Target.GROUPS: transfer.Column.GROUPS.value,
}
_GUESSES = {
    transfer.Column.FULL_PHONE: Target.PHONE,
    transfer.Column.LOCAL_PHONE: Target.PHONE,
    transfer.Column.FIRST_NAME: Target.FIRST_NAME,
    transfer.Column.LAST_NAME: Target.LAST_NAME,
    transfer.Column.LANGUAGE: Target.LANGUAGE,
    transfer.Column.GROUPS: Target.GROUPS,
}


@dataclass(frozen=True)
class Mapping:
    """One column's target; `field_name` names the custom field when the target is FIELD."""

    target: Target
    field_name: str = ""


@dataclass(frozen=True)
class UploadedTable:
    """An uploaded file's cells: its header and its non-blank records with their row numbers
    (the file's line for CSV, the sheet's row for XLSX)."""

    header: list[str]
    records: list[tuple[int, list[str]]]

    def preview(self, count: int = PREVIEW_ROWS) -> list[list[str]]:
        """The first records, each as wide as the header."""
        width = len(self.header)
        return [(cells + [""] * width)[:width] for _, cells in self.records[:count]]


@dataclass(frozen=True)
class RefusedRow:
    """A record the import refused: its row number, its cells and why."""

    row: int
    cells: list[str]
    message: str
    error_code: str


def read_uploaded_table(data: bytes) -> UploadedTable:
    """The header and records of a CSV (UTF-8 or UTF-16) or XLSX file; InvalidImportFile when
    it cannot be read or has no header."""
    rows = _read_xlsx(data) if data.startswith(_XLSX_SIGNATURE) else _read_csv(data)
    filled = [(n, cells) for n, cells in rows if any(c.strip() for c in cells)]
    if not filled:
        raise InvalidImportFile("The file is empty: it needs a header line and a line per contact")
    (_, header), records = filled[0], filled[1:]
    return UploadedTable([h.strip() for h in header], records)


def _read_csv(data: bytes) -> list[tuple[int, list[str]]]:
    text = transfer.decode_import_bytes(data)
    first = next((line for line in text.splitlines() if line.strip()), "")
    separator = re.fullmatch(r"sep=([,;\t|])\s*", first, re.IGNORECASE)
    offset = 0
    if separator is not None:
        text, offset = text.split("\n", 1)[1] if "\n" in text else "", 1
        delimiter = separator.group(1)
    else:
        unquoted = re.sub(r'"[^"]*"', "", first)
        delimiter = max((",", ";", "\t"), key=unquoted.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for cells in reader:
            rows.append((start + offset, cells))
            start = reader.line_num + 1
    except csv.Error as exc:
        line = reader.line_num + offset
        raise InvalidImportFile(f"Line {line} is not valid CSV: {exc}", {"line": line}) from exc
    return rows


def _read_xlsx(data: bytes) -> list[tuple[int, list[str]]]:
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise InvalidImportFile(f"The spreadsheet cannot be read: {exc}") from exc
    try:
        sheet = book.worksheets[0]
        return [
            (number, [_cell_text(value) for value in values])
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1)
        ]
    finally:
        book.close()


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        # A phone number typed into a spreadsheet is stored as a number.
        return str(int(value))
    return str(value)


def guess_mapping(header: Sequence[str]) -> list[Mapping]:
    """The mapping the API's import would use for these headers (a custom field otherwise)."""
    guessed: list[Mapping] = []
    taken: set[Target] = set()
    for name in header:
        if not name.strip():
            guessed.append(Mapping(Target.IGNORE))
            continue
        column = transfer.read_column_name(name)
        target = _GUESSES.get(column) if column is not None else None
        if column is transfer.Column.IGNORED or target in taken:
            guessed.append(Mapping(Target.IGNORE))
        elif target is not None:
            taken.add(target)
            guessed.append(Mapping(target))
        else:
            guessed.append(Mapping(Target.FIELD, name.removeprefix("field:").strip()))
    return guessed


@dataclass(frozen=True)
class MappedFile:
    """The CSV the import reads, and which uploaded record each of its lines holds."""

    data: bytes
    records_by_line: dict[int, tuple[int, list[str]]]


def check_mapping(header: Sequence[str], mapping: Sequence[Mapping]) -> list[tuple[int, str]]:
    """(column index, import header) of each mapped column; InvalidImportFile for a mapping with
    no phone column, a target chosen twice or a custom field without a name."""
    if len(mapping) != len(header):
        raise InvalidImportFile("Choose what every column of the file holds")
    chosen: list[tuple[int, str]] = []
    seen: set[str] = set()
    for index, (one, name) in enumerate(zip(mapping, header, strict=True)):
        if one.target is Target.IGNORE:
            continue
        if one.target is Target.FIELD:
            if not one.field_name.strip():
                raise InvalidImportFile(f'Column "{name}": name the custom field it fills')
            check_text("Custom field name", one.field_name)
            imported = transfer.CUSTOM_FIELD_PREFIX + one.field_name.strip()
        else:
            imported = _HEADERS[one.target]
        if imported.casefold() in seen:
            raise InvalidImportFile(f'Two columns are both mapped to "{imported}"')
        seen.add(imported.casefold())
        chosen.append((index, imported))
    if _HEADERS[Target.PHONE].casefold() not in seen:
        raise InvalidImportFile("Choose the column that holds the phone number")
    return chosen


def write_mapped_csv(table: UploadedTable, mapping: Sequence[Mapping]) -> MappedFile:
    """The table as an import CSV with the chosen columns (check_mapping's refusals apply)."""
    chosen = check_mapping(table.header, mapping)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([h for _, h in chosen])
    line = 2
    records_by_line: dict[int, tuple[int, list[str]]] = {}
    for number, cells in table.records:
        row = [_plain_newlines(cells[i]) if i < len(cells) else "" for i, _ in chosen]
        if not any(c.strip() for c in row):
            continue
        writer.writerow(row)
        # The import names a record by the line it starts on; lead that back to the record.
        records_by_line[line] = (number, cells)
        line += 1 + sum(c.count("\n") for c in row)
    return MappedFile(out.getvalue().encode("utf-8"), records_by_line)


def _plain_newlines(cell: str) -> str:
    return cell.replace("\r\n", "\n").replace("\r", "\n")


@dataclass(frozen=True)
class MappedImportReport:
    """What a mapped import did, with the refused records (the first ones) and their reasons."""

    created: int
    failed: int
    refused: list[RefusedRow]


async def import_mapped_contacts(
    db: Database,
    clock: Clock,
    org_id: int,
    table: UploadedTable,
    mapping: Sequence[Mapping],
    on_progress: Callable[[int], Awaitable[None]] | None = None,
) -> MappedImportReport:
    """Import the table's records with the mapping; on_progress hears how many records are
    done after each batch."""
    mapped = await asyncio.to_thread(write_mapped_csv, table, mapping)

    async def report_progress(report: ImportReport) -> None:
        if on_progress is not None:
            await on_progress(report.created + report.failed)

    report = await importing.import_contacts(
        db, clock, org_id, mapped.data, on_progress=report_progress
    )
    refused = []
    for error in report.errors:
        number, cells = mapped.records_by_line.get(error.line, (error.line, []))
        refused.append(RefusedRow(number, cells, error.message, error.error_code))
    return MappedImportReport(report.created, report.failed, refused)


def render_refused_csv(header: Sequence[str], refused: Sequence[RefusedRow]) -> str:
    """The refused records as CSV: row number, reason, error code, then the record's cells."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["row", "error", "errorCode", *header])
    for one in refused:
        writer.writerow(
            [one.row, one.message, one.error_code, *(transfer.escape_cell(c) for c in one.cells)]
        )
    return out.getvalue()
