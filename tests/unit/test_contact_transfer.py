"""Reading contacts files for imports: encodings, dialects, columns, rows, groups."""

from __future__ import annotations

import codecs

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tambuli.contacts.transfer import (
    Column,
    ContactsFile,
    ImportedRow,
    RowError,
    decode_import_bytes,
    escape_cell,
    iter_records,
    map_columns,
    parse_contact_row,
    parse_flag,
    read_contacts_file,
    resolve_group_ref,
    split_group_refs,
    take_contact_rows,
    unescape_cell,
)
from tambuli.errors import InvalidField, InvalidImportFile, UnknownGroup

GLOBE = "639171234567"
SMART = "639181234567"


def read_rows(text: str | bytes) -> list[ImportedRow | RowError]:
    """Every record of a file, parsed as an import would."""
    source = read_contacts_file(text.encode() if isinstance(text, str) else text)
    return take_contact_rows(source.columns, iter_records(source), 10_000)


def only_rows(text: str | bytes) -> list[ImportedRow]:
    """The records of a file that must all be good."""
    rows = read_rows(text)
    assert all(isinstance(row, ImportedRow) for row in rows), rows
    return [row for row in rows if isinstance(row, ImportedRow)]


def errors_of(text: str) -> list[tuple[int, str]]:
    """(line, errorCode) of each refused record."""
    return [(r.line, r.error_code) for r in read_rows(text) if isinstance(r, RowError)]


def refusal(data: bytes) -> InvalidImportFile:
    """The reason a whole file is refused."""
    with pytest.raises(InvalidImportFile) as caught:
        read_contacts_file(data)
    return caught.value


# --- columns ----------------------------------------------------------------------------------


def test_known_columns_are_matched_ignoring_case_spaces_underscores_and_dashes() -> None:
    columns = map_columns(
        ["Full Phone Number", "first_name", "LAST NAME", "Language", "Groups", "no-autodelete"]
    )
    assert columns.builtin == {
        Column.FULL_PHONE: 0,
        Column.FIRST_NAME: 1,
        Column.LAST_NAME: 2,
        Column.LANGUAGE: 3,
        Column.GROUPS: 4,
        Column.NO_AUTODELETE: 5,
    }
    assert columns.custom == ()


@pytest.mark.parametrize("header", ["phone", "Mobile", "Phone Number", "MSISDN", "fullPhoneNumber"])
def test_a_phone_column_without_a_country_column_holds_international_numbers(header: str) -> None:
    assert map_columns([header]).builtin == {Column.FULL_PHONE: 0}


def test_phone_number_with_a_country_column_holds_local_numbers() -> None:
    columns = map_columns(["Phone Number", "Country"])
    assert columns.builtin == {Column.LOCAL_PHONE: 0, Column.COUNTRY: 1}


def test_other_columns_are_custom_fields_by_their_header_text() -> None:
    columns = map_columns(["phone", " Barangay ", "Crop type", "", "field:Language"])
    assert columns.custom == ((1, "Barangay"), (2, "Crop type"), (4, "Language"))
    assert columns.width == 5


def test_columns_an_export_writes_but_tambuli_decides_are_ignored() -> None:
    columns = map_columns(["id", "fullPhoneNumber", "carrier", "createdAt"])
    assert columns.builtin == {Column.FULL_PHONE: 1}
    assert columns.custom == ()


def test_two_columns_for_the_same_field_are_refused() -> None:
    with pytest.raises(InvalidImportFile, match='"phone" and "Mobile"'):
        map_columns(["phone", "Mobile"])
    with pytest.raises(InvalidImportFile, match="same custom field"):
        map_columns(["phone", "Crop", "CROP"])


def test_a_file_without_a_phone_column_is_refused() -> None:
    assert "No phone number column" in refusal(b"firstName,lastName\nAna,Cruz\n").message


def test_a_file_without_a_header_line_is_refused_with_a_hint() -> None:
    error = refusal(f"{GLOBE},Ana\n{SMART},Ben\n".encode())
    assert "looks like data" in error.message


@pytest.mark.parametrize("data", [b"", b"\n\n  \r\n", codecs.BOM_UTF8])
def test_an_empty_file_is_refused(data: bytes) -> None:
    assert "empty" in refusal(data).message


# --- encodings and CSV dialects ---------------------------------------------------------------


def test_a_utf8_byte_order_mark_is_skipped() -> None:
    data = codecs.BOM_UTF8 + f"fullPhoneNumber,firstName\n{GLOBE},Peña\n".encode()
    [row] = only_rows(data)
    assert (row.phone.digits, row.fields.first_name) == (GLOBE, "Peña")


def test_excel_unicode_text_in_utf16_with_tabs_is_read() -> None:
    text = f"phone\tfirstName\r\n{GLOBE}\tPeña\r\n"
    [row] = only_rows(codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    assert row.fields.first_name == "Peña"


def test_a_legacy_windows_encoding_is_refused_at_its_line() -> None:
    error = refusal(f"phone,firstName\n{GLOBE},Ana\n{SMART},Peña\n".encode("cp1252"))
    assert error.context == {"line": 3}
    assert "CSV UTF-8" in error.message


@pytest.mark.parametrize(
    "data",
    [
        b"PK\x03\x04\x14\x00\x06\x00rest of a workbook",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1old excel",
    ],
)
def test_spreadsheet_workbooks_are_refused_with_a_hint(data: bytes) -> None:
    assert "Save As" in refusal(data).message


def test_binary_data_is_refused() -> None:
    assert "binary" in refusal(b"phone\n\x00\x01\x02\x03\n").message


def test_the_delimiter_is_found_from_the_header_line() -> None:
    [row] = only_rows(f"phone;firstName;Crop\n{GLOBE};Ana;rice, corn\n")
    assert row.fields.first_name == "Ana"
    assert row.fields.custom_fields_by_name == {"Crop": "rice, corn"}


def test_an_excel_separator_line_sets_the_delimiter_and_counts_as_a_line() -> None:
    rows = read_rows(f"sep=;\nphone;firstName\n{GLOBE};Ana\nnot a number;Ben\n")
    assert isinstance(rows[0], ImportedRow) and rows[0].line == 3
    assert isinstance(rows[1], RowError) and rows[1].line == 4


def test_quoted_cells_may_hold_delimiters_quotes_and_line_breaks() -> None:
    text = (
        f'phone,firstName,Notes\r\n{GLOBE},"Cruz, Ana","said ""hi""\nthen left"\r\n{SMART},Ben,\r\n'
    )
    first, second = only_rows(text)
    assert first.fields.first_name == "Cruz, Ana"
    assert first.fields.custom_fields_by_name == {"Notes": 'said "hi"\nthen left'}
    assert second.line == 4


def test_blank_records_are_skipped_but_still_count_as_lines() -> None:
    rows = read_rows(f"phone\n\n{GLOBE}\n,,\n\nbad\n")
    assert [(type(r).__name__, r.line) for r in rows] == [("ImportedRow", 3), ("RowError", 6)]


def test_a_cell_over_the_csv_size_limit_refuses_the_file_at_its_line() -> None:
    data = f"phone,Notes\n{GLOBE},ok\n{SMART},{'x' * 200_000}\n".encode()
    assert refusal(data).context == {"line": 3}


# --- rows -------------------------------------------------------------------------------------


def test_a_row_becomes_a_contact_with_fields_groups_and_custom_values() -> None:
    [row] = only_rows(
        "fullPhoneNumber,firstName,lastName,language,groups,noAutodelete,Crop,Empty\n"
        f"+{GLOBE}, Ana ,Cruz,Tagalog,Farmers; Youth,yes,rice,\n"
    )
    assert row.phone.digits == GLOBE
    assert (row.fields.first_name, row.fields.last_name, row.fields.language) == (
        "Ana",
        "Cruz",
        "Tagalog",
    )
    assert row.fields.no_autodelete is True
    assert row.fields.custom_fields_by_name == {"Crop": "rice"}
    assert row.group_refs == ("Farmers", "Youth")


def test_local_numbers_are_read_in_the_country_of_their_row() -> None:
    rows = only_rows(
        "phoneNumber,country\n09171234567,PH\n(415) 555-0123,us\n+254712345678,PH\n639181234567,\n"
    )
    assert [r.phone.digits for r in rows] == [GLOBE, "14155550123", "254712345678", SMART]


def test_bad_rows_are_reported_at_the_line_where_they_start() -> None:
    text = (
        "phone,firstName,noAutodelete\n"  # 1
        f"{GLOBE},Ana,\n"  # 2
        "12345,Ben,\n"  # 3: impossible number
        ",Cy,\n"  # 4: no number
        f"{GLOBE},{'x' * 201},\n"  # 5: name too long
        f"{GLOBE},Di,maybe\n"  # 6: not a yes/no
        f'{GLOBE},"Ed\nEdwards",\n'  # 7-8: good
        f"{GLOBE},Flo,no,surplus\n"  # 9: more cells than the header
    )
    assert errors_of(text) == [
        (3, "contact.invalidphonenumber"),
        (4, "contact.invalidphonenumber"),
        (5, "request.invalidfield"),
        (6, "request.invalidfield"),
        (9, "contact.importrow"),
    ]


def test_a_number_a_spreadsheet_turned_into_a_float_is_refused_with_a_hint() -> None:
    [error] = read_rows("phone\n6.39172E+11\n")
    assert isinstance(error, RowError)
    assert "format the phone column as text" in error.message


def test_both_phone_forms_in_one_row_are_refused() -> None:
    assert errors_of(f"fullPhoneNumber,phoneNumber,country\n{GLOBE},09181234567,PH\n") == [
        (2, "contact.phonenumberform")
    ]


def test_trailing_empty_cells_beyond_the_header_are_allowed() -> None:
    assert len(only_rows(f"phone,firstName\n{GLOBE},Ana,,,\n")) == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [("TRUE", True), ("yes", True), ("Y", True), ("1", True), ("false", False), ("No", False)],
)
def test_yes_no_cells_accept_the_usual_spellings(text: str, expected: bool) -> None:
    assert parse_flag(text) is expected
    assert parse_flag(None) is None


def test_a_parsed_row_is_the_same_whether_read_directly_or_through_the_file() -> None:
    columns = map_columns(["phone", "firstName"])
    row = parse_contact_row(columns, 7, [GLOBE, "Ana"])
    assert (row.line, row.phone.digits, row.fields.first_name) == (7, GLOBE, "Ana")


# --- groups -----------------------------------------------------------------------------------


def test_groups_are_separated_by_semicolons_trimmed_and_not_repeated() -> None:
    assert split_group_refs(" Farmers ;youth;; FARMERS;Batangas, Lipa") == (
        "Farmers",
        "youth",
        "Batangas, Lipa",
    )
    assert split_group_refs("") == ()


def test_a_group_name_over_the_length_limit_is_refused() -> None:
    with pytest.raises(InvalidField):
        split_group_refs("x" * 201)


def test_a_group_reference_is_a_name_first_then_an_id() -> None:
    names = {"farmers": 10, "2024": 11}
    known = {10, 11, 12}
    assert resolve_group_ref("FARMERS", names, known) == 10
    assert resolve_group_ref("2024", names, known) == 11
    assert resolve_group_ref("12", names, known) == 12
    assert resolve_group_ref("Youth", names, known) is None
    with pytest.raises(UnknownGroup):
        resolve_group_ref("99", names, known)


# --- formula escaping -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=HYPERLINK(1)", "'=HYPERLINK(1)"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("+A1", "'+A1"),
        ("-cmd|x", "'-cmd|x"),
        ("'=1", "''=1"),
        ("-5", "-5"),
        ("+63 (917) 123-4567", "+63 (917) 123-4567"),
        ("-", "-"),
        ("'Aisha", "'Aisha"),
        ("Ana", "Ana"),
    ],
)
def test_cells_a_spreadsheet_would_run_as_formulas_get_a_leading_quote(
    value: str, written: str
) -> None:
    assert escape_cell(value) == written
    assert unescape_cell(written) == value


@given(st.text())
def test_unescaping_undoes_escaping_for_any_text(value: str) -> None:
    assert unescape_cell(escape_cell(value)) == value


def test_a_decoded_file_keeps_its_text_for_a_second_pass() -> None:
    source = read_contacts_file(f"phone\n{GLOBE}\n".encode())
    assert isinstance(source, ContactsFile)
    assert list(iter_records(source)) == list(iter_records(source)) == [(2, [GLOBE])]
    assert decode_import_bytes(b"a\x1a") == "a"
