"""Contacts files: reading CSV imports into contacts, and the column rules exports share.

Pure: bytes and text in, rows out. sheets.py writes exports; importing.py and exporting.py are
the database side.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from itertools import islice

from tambuli.contacts.models import (
    MAX_FIELD_VALUE_LENGTH,
    MAX_GROUPS_PER_REQUEST,
    ContactInput,
    PhoneNumber,
    check_text,
    fold_name,
)
from tambuli.contacts.phones import normalise_full_number, normalise_local_number
from tambuli.errors import (
    AmbiguousPhoneNumber,
    InvalidField,
    InvalidImportFile,
    InvalidImportRow,
    InvalidPhoneNumber,
    TambuliError,
    UnknownGroup,
)

GROUP_SEPARATOR = ";"
# A header starting with this names a custom field even when the rest names a built-in column.
CUSTOM_FIELD_PREFIX = "field:"
# The contacts.language column holds 100 characters.
MAX_LANGUAGE_LENGTH = 100


class Column(StrEnum):
    """What a column of an import file holds."""

    FULL_PHONE = "fullPhoneNumber"  # an international number, with or without "+"
    LOCAL_PHONE = "phoneNumber"  # a number as dialled in the row's phoneNumberCountry
    COUNTRY = "phoneNumberCountry"  # two-letter country used to read the row's number
    FIRST_NAME = "firstName"  # given name
    LAST_NAME = "lastName"  # family name
    LANGUAGE = "language"  # free text, e.g. "Tagalog"
    GROUPS = "groups"  # group names or IDs separated by GROUP_SEPARATOR
    NO_AUTODELETE = "noAutodelete"  # true/false, yes/no, y/n, 1/0
    IGNORED = "ignored"  # written by exports but decided by Tambuli: id, carrier, createdAt


_ALIASES: dict[str, Column] = {
    "fullphonenumber": Column.FULL_PHONE,
    "phone": Column.FULL_PHONE,
    "mobile": Column.FULL_PHONE,
    "mobilenumber": Column.FULL_PHONE,
    "msisdn": Column.FULL_PHONE,
    # "phone number" is the local number only when the file also has a country column.
    "phonenumber": Column.LOCAL_PHONE,
    "phonenumbercountry": Column.COUNTRY,
    "country": Column.COUNTRY,
    "firstname": Column.FIRST_NAME,
    "lastname": Column.LAST_NAME,
    "language": Column.LANGUAGE,
    "groups": Column.GROUPS,
    "group": Column.GROUPS,
    "noautodelete": Column.NO_AUTODELETE,
    "id": Column.IGNORED,
    "carrier": Column.IGNORED,
    "createdat": Column.IGNORED,
}
_FLAGS = {
    **dict.fromkeys(("true", "yes", "y", "1"), True),
    **dict.fromkeys(("false", "no", "n", "0"), False),
}
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# ZIP (xlsx, ods) and OLE2 (xls) signatures: spreadsheets uploaded instead of their CSV.
_WORKBOOK_SIGNATURES = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0")
_CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_EXCEL_SEPARATOR_LINE = re.compile(r"sep=([,;\t|])[ \t]*(?:\r\n|\n|\r|$)", re.IGNORECASE)
_DELIMITERS = (",", ";", "\t")
_PHONE_LIKE = re.compile(r"\+?[\d\s().-]{7,}")
# How spreadsheets show a long number they have turned into a float, e.g. 6.39172E+11.
_SCIENTIFIC_NUMBER = re.compile(r"\d(?:[.,]\d+)?[eE]\+?\d+")
# A cell starting with "+" or "-" is a formula to spreadsheets only if it holds more than sums.
_PLAIN_SIGNED = re.compile(r"[+-][\d\s.,()+-]*")
SAVE_AS_CSV_HINT = "in Excel use File > Save As > CSV UTF-8 (Comma delimited)"


@dataclass(frozen=True)
class ColumnMap:
    """Which cell of a record feeds which contact field."""

    builtin: dict[Column, int]
    custom: tuple[tuple[int, str], ...]
    width: int


@dataclass(frozen=True)
class ContactsFile:
    """A decoded import file whose header and records have been checked."""

    text: str
    delimiter: str
    # Lines before `text` (Excel's "sep=" line), still counted in reported line numbers.
    line_offset: int
    columns: ColumnMap


@dataclass(frozen=True)
class ImportedRow:
    """A record of an import file turned into a contact to create."""

    line: int
    phone: PhoneNumber
    fields: ContactInput
    group_refs: tuple[str, ...]


@dataclass(frozen=True)
class RowError:
    """Why a record was not imported; `line` is the file line where the record starts."""

    line: int
    message: str
    error_code: str

    @classmethod
    def of(cls, line: int, error: TambuliError) -> RowError:
        """The row error for a TambuliError raised while importing the record at line."""
        return cls(line=line, message=error.message, error_code=error.error_code)


def decode_import_bytes(data: bytes) -> str:
    """The text of an import file: UTF-8 (a BOM is allowed) or UTF-16 with its BOM."""
    if data.startswith(_WORKBOOK_SIGNATURES):
        raise InvalidImportFile(f"This is a spreadsheet workbook, not CSV: {SAVE_AS_CSV_HINT}")
    encoding, body = "utf-8", data
    for bom, name in _BOMS:
        if data.startswith(bom):
            encoding, body = name, data[len(bom) :]
            break
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError as exc:
        line = body[: exc.start].count(b"\n") + 1
        raise InvalidImportFile(
            f"Line {line} is not {encoding.upper()} text: {SAVE_AS_CSV_HINT}", {"line": line}
        ) from exc
    # Old DOS tools end text files with Ctrl-Z.
    text = text.rstrip("\x1a")
    control = _CONTROL_CHARACTER.search(text)
    if control is not None:
        line = text.count("\n", 0, control.start()) + 1
        raise InvalidImportFile(
            f"Line {line} holds binary data: upload a CSV text file", {"line": line}
        )
    return text


def read_contacts_file(data: bytes) -> ContactsFile:
    """Decode an import file, find its delimiter and columns, and check every record parses."""
    text = decode_import_bytes(data)
    line_offset = 0
    delimiter = ""
    separator_line = _EXCEL_SEPARATOR_LINE.match(text)
    if separator_line is not None:
        delimiter, text, line_offset = separator_line.group(1), text[separator_line.end() :], 1
    if not text.strip():
        raise InvalidImportFile("The file is empty: it needs a header line and a line per contact")
    if not delimiter:
        delimiter = _choose_delimiter(next(line for line in text.splitlines() if line.strip()))
    records = _read_records(text, delimiter, line_offset)
    _, header = next(records)
    source = ContactsFile(text, delimiter, line_offset, map_columns(header))
    for _ in records:
        pass
    return source


def iter_records(source: ContactsFile) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of each non-blank record after the header."""
    return islice(_read_records(source.text, source.delimiter, source.line_offset), 1, None)


def _choose_delimiter(header_line: str) -> str:
    unquoted = re.sub(r'"[^"]*"', "", header_line)
    return max(_DELIMITERS, key=unquoted.count)


def _read_records(text: str, delimiter: str, line_offset: int) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    start = 1
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                yield start + line_offset, cells
            start = reader.line_num + 1
    except csv.Error as exc:
        line = reader.line_num + line_offset
        raise InvalidImportFile(f"Line {line} is not valid CSV: {exc}", {"line": line}) from exc


def column_key(name: str) -> str:
    """How a header is compared with the known column names: no case, spaces, _ or -."""
    return re.sub(r"[\s_-]+", "", name).casefold()


def _is_custom_prefixed(name: str) -> bool:
    return name.casefold().startswith(CUSTOM_FIELD_PREFIX)


def read_column_name(name: str) -> Column | None:
    """The built-in column a header names; None for a custom field's header."""
    return None if _is_custom_prefixed(name) else _ALIASES.get(column_key(name))


def is_reserved_header(name: str) -> bool:
    """Whether an import would not read a header of this text as a custom field's name."""
    return column_key(name) in _ALIASES or _is_custom_prefixed(name)


def map_columns(header: list[str]) -> ColumnMap:
    """The column map of a header line; InvalidImportFile when it has no phone column."""
    names = [unescape_cell(cell).strip() for cell in header]
    keys = {column_key(name) for name in names}
    has_country = any(_ALIASES.get(key) is Column.COUNTRY for key in keys)
    builtin: dict[Column, int] = {}
    custom: dict[str, tuple[int, str]] = {}
    for index, name in enumerate(names):
        if not name:
            continue
        column = None if _is_custom_prefixed(name) else _ALIASES.get(column_key(name))
        if column is Column.LOCAL_PHONE and not has_country:
            column = Column.FULL_PHONE
        if column is Column.IGNORED:
            continue
        if column is not None:
            if column in builtin:
                earlier = names[builtin[column]]
                raise InvalidImportFile(
                    f'Columns "{earlier}" and "{name}" both hold {column.value}',
                    {"columns": [earlier, name]},
                )
            builtin[column] = index
            continue
        field_name = _custom_field_name(name)
        earlier_custom = custom.get(fold_name(field_name))
        if earlier_custom is not None:
            raise InvalidImportFile(
                f'Columns "{names[earlier_custom[0]]}" and "{name}" name the same custom field',
                {"columns": [names[earlier_custom[0]], name]},
            )
        custom[fold_name(field_name)] = (index, field_name)
    if Column.FULL_PHONE not in builtin and Column.LOCAL_PHONE not in builtin:
        raise InvalidImportFile(_missing_phone_message(names))
    return ColumnMap(builtin=builtin, custom=tuple(custom.values()), width=len(names))


def _custom_field_name(header: str) -> str:
    name = header[len(CUSTOM_FIELD_PREFIX) :].strip() if _is_custom_prefixed(header) else header
    if not name:
        raise InvalidImportFile(f'Column "{header}" names no custom field')
    try:
        return check_text("Custom field name", name) or ""
    except InvalidField as exc:
        raise InvalidImportFile(f'Column "{header[:40]}…": {exc.message}') from exc


def _missing_phone_message(names: list[str]) -> str:
    if any(_PHONE_LIKE.fullmatch(name) for name in names):
        return (
            "The first line looks like data: the file needs a header line naming its columns, "
            "such as fullPhoneNumber,firstName,lastName"
        )
    return (
        "No phone number column: name one fullPhoneNumber (or phone, mobile), "
        "or phoneNumber together with phoneNumberCountry"
    )


def take_contact_rows(
    columns: ColumnMap, records: Iterator[tuple[int, list[str]]], limit: int
) -> list[ImportedRow | RowError]:
    """The next `limit` records, each as a contact to create or as the reason it is refused."""
    taken: list[ImportedRow | RowError] = []
    for line, cells in islice(records, limit):
        try:
            taken.append(parse_contact_row(columns, line, cells))
        except TambuliError as exc:
            taken.append(RowError.of(line, exc))
    return taken


def parse_contact_row(columns: ColumnMap, line: int, cells: list[str]) -> ImportedRow:
    """The contact a record describes; raises the TambuliError of its first bad cell."""
    if any(cell.strip() for cell in cells[columns.width :]):
        raise InvalidImportRow(
            f"The row has {len(cells)} cells but the header only {columns.width}",
            {"cells": len(cells), "headerCells": columns.width},
        )

    def cell(index: int | None) -> str | None:
        if index is None or index >= len(cells):
            return None
        return unescape_cell(cells[index]).strip() or None

    def builtin(column: Column) -> str | None:
        return cell(columns.builtin.get(column))

    phone = parse_row_phone(
        builtin(Column.FULL_PHONE), builtin(Column.LOCAL_PHONE), builtin(Column.COUNTRY)
    )
    values: dict[str, str] = {}
    for index, name in columns.custom:
        value = cell(index)
        if value is not None:
            values[name] = check_text(f'Custom field "{name}"', value, MAX_FIELD_VALUE_LENGTH) or ""
    fields = ContactInput(
        first_name=check_text("firstName", builtin(Column.FIRST_NAME)),
        last_name=check_text("lastName", builtin(Column.LAST_NAME)),
        language=check_text("language", builtin(Column.LANGUAGE), MAX_LANGUAGE_LENGTH),
        no_autodelete=parse_flag(builtin(Column.NO_AUTODELETE)),
        custom_fields_by_name=values,
    )
    return ImportedRow(line, phone, fields, split_group_refs(builtin(Column.GROUPS) or ""))


def parse_row_phone(full: str | None, local: str | None, country: str | None) -> PhoneNumber:
    """A row's number: read in its country when one is given, else as an international number."""
    if full is not None and local is not None:
        raise AmbiguousPhoneNumber("Give fullPhoneNumber or phoneNumber in a row, not both")
    number = full if full is not None else local
    if number is None:
        raise InvalidPhoneNumber("The phone number is empty")
    if _SCIENTIFIC_NUMBER.fullmatch(number):
        raise InvalidPhoneNumber(
            f"{number} is how a spreadsheet shows a long number, not the number itself: "
            "format the phone column as text and save the file again"
        )
    if country is not None:
        return normalise_local_number(number, country)
    return normalise_full_number(number)


def parse_flag(value: str | None) -> bool | None:
    """A yes/no cell: true/false, yes/no, y/n or 1/0 in any case; None when empty."""
    if value is None:
        return None
    flag = _FLAGS.get(value.casefold())
    if flag is None:
        raise InvalidField(
            f"noAutodelete must be true or false, not {value[:20]!r}", {"field": "noAutodelete"}
        )
    return flag


def split_group_refs(text: str) -> tuple[str, ...]:
    """The group names or IDs of a groups cell, without blanks or repeats (ignoring case)."""
    refs: dict[str, str] = {}
    for part in text.split(GROUP_SEPARATOR):
        name = check_text("Group name", part)
        if name:
            refs.setdefault(fold_name(name), name)
    if len(refs) > MAX_GROUPS_PER_REQUEST:
        raise InvalidField(f"At most {MAX_GROUPS_PER_REQUEST} groups", {"field": "groups"})
    return tuple(refs.values())


def resolve_group_ref(ref: str, ids_by_name: dict[str, int], known_ids: set[int]) -> int | None:
    """The group a reference means: a name first, else an ID; None for a new group's name."""
    named = ids_by_name.get(fold_name(ref))
    if named is not None:
        return named
    if ref.isascii() and ref.isdigit():
        if int(ref) in known_ids:
            return int(ref)
        raise UnknownGroup(f"Unknown group ID {ref}", {"groupIds": [int(ref)]})
    return None


def _is_formula_like(text: str) -> bool:
    if text.startswith(("=", "@", "\t", "\r")):
        return True
    return text.startswith(("+", "-")) and not _PLAIN_SIGNED.fullmatch(text)


def escape_cell(text: str) -> str:
    """A CSV cell spreadsheets will not run as a formula: a leading "'" where needed."""
    return "'" + text if _is_formula_like(text.lstrip("'")) else text


def unescape_cell(text: str) -> str:
    """The inverse of escape_cell."""
    return text[1:] if text.startswith("'") and _is_formula_like(text.lstrip("'")) else text
