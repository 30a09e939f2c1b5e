"""SMPP inbound fields: receipts, message IDs, MO decoding, UDH/SAR."""

from __future__ import annotations

import string
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tambuli.alphabets import GSM_CHARACTERS, encode_gsm7_unpacked
from tambuli.channels.base import ReceiptStatus
from tambuli.channels.sms.smpp.fields import (
    Concatenation,
    build_submit_parts,
    build_user_data_header,
)
from tambuli.channels.sms.smpp.receipts import (
    TAG_MESSAGE_STATE,
    TAG_RECEIPTED_MESSAGE_ID,
    ConcatInfo,
    IdFormat,
    concat_from_sar,
    decode_short_message,
    is_receipt_type,
    map_receipt_state,
    normalise_message_id,
    parse_receipt_date,
    parse_receipt_text,
    read_any_receipt_fields,
    read_receipt,
    read_receipt_fields,
    split_user_data_header,
)

T0 = datetime(2025, 1, 1, 8, 0, tzinfo=UTC)
RECEIPT = (
    "id:1234567890 sub:001 dlvrd:001 submit date:2501011200 done date:2501011201 "
    "stat:DELIVRD err:000 text:Hello there"
)
SPEC_WORDS = {
    "",
    "anti-spam filter",
    "blocked",
    "contact absent",
    "contact absent - permanent",
    "expired",
    "no route",
    "unknown",
    "unreachable",
}
GSM_TEXT = st.text(alphabet=sorted(GSM_CHARACTERS), max_size=200)


def test_a_standard_receipt_text_is_read_field_by_field() -> None:
    parsed = parse_receipt_text(RECEIPT)
    assert parsed is not None
    assert (parsed.message_id, parsed.stat, parsed.err) == ("1234567890", "DELIVRD", "000")
    assert (parsed.sub, parsed.dlvrd) == ("001", "001")
    assert (parsed.submit_date, parsed.done_date) == ("2501011200", "2501011201")
    assert parsed.text == "Hello there"


def test_receipt_text_tolerates_case_spaces_underscores_and_missing_fields() -> None:
    parsed = parse_receipt_text(
        "ID: ab-12F  Submit_Date:250101120005 done_date: 2501011201 Stat:undeliv"
    )
    assert parsed is not None
    assert (parsed.message_id, parsed.stat) == ("ab-12F", "undeliv")
    assert (parsed.submit_date, parsed.done_date) == ("250101120005", "2501011201")
    assert parsed.sub is None and parsed.err is None and parsed.text is None


def test_the_quoted_text_may_hold_words_that_look_like_fields() -> None:
    parsed = parse_receipt_text("id:7 stat:EXPIRED text:your id: 99 stat: fine")
    assert parsed is not None
    assert (parsed.message_id, parsed.stat, parsed.text) == (
        "7",
        "EXPIRED",
        "your id: 99 stat: fine",
    )


# Values that keep the standard layout, and values that break it: a key inside a value, spaces,
# punctuation, an empty value.
RECEIPT_VALUE = st.one_of(
    st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=12),
    st.sampled_from(["", " ", "-", "a:b", "xsub:1", "-sub:9", "id:3", "7 err:5", "0\n1"]),
)


@given(st.lists(RECEIPT_VALUE, min_size=7, max_size=7), st.none() | GSM_TEXT)
def test_the_standard_layout_is_read_as_any_layout_is(
    values: list[str], quoted: str | None
) -> None:
    keys = ["id", "sub", "dlvrd", "submit date", "done date", "stat", "err"]
    text = " ".join(f"{key}:{value}" for key, value in zip(keys, values, strict=True))
    if quoted is not None:
        text += f" text:{quoted}"
    assert read_receipt_fields(text) == read_any_receipt_fields(text)


def test_a_standard_receipt_is_read_in_one_match_with_its_quoted_text() -> None:
    assert read_receipt_fields(RECEIPT) == {
        "id": "1234567890",
        "sub": "001",
        "dlvrd": "001",
        "submit_date": "2501011200",
        "done_date": "2501011201",
        "stat": "DELIVRD",
        "err": "000",
        "text": "Hello there",
    }


@pytest.mark.parametrize("text", ["", "stat:DELIVRD err:0", "id:123 dlvrd:1", "id: stat:DELIVRD"])
def test_a_receipt_text_without_id_or_stat_is_none(text: str) -> None:
    assert parse_receipt_text(text) is None


@given(st.text(alphabet=string.ascii_letters + string.digits + "-", min_size=1, max_size=40))
def test_a_receipt_text_gives_back_any_id(message_id: str) -> None:
    parsed = parse_receipt_text(RECEIPT.replace("1234567890", message_id))
    assert parsed is not None
    assert parsed.message_id == message_id


def test_receipt_dates_with_and_without_seconds_are_utc() -> None:
    assert parse_receipt_date("2501011201") == datetime(2025, 1, 1, 12, 1, tzinfo=UTC)
    assert parse_receipt_date("250101120159") == datetime(2025, 1, 1, 12, 1, 59, tzinfo=UTC)


@pytest.mark.parametrize("text", ["", "2513011200", "25010112", "25-01-0112", "2502301200"])
def test_an_unreadable_receipt_date_is_none(text: str) -> None:
    assert parse_receipt_date(text) is None


def test_decimal_and_hex_ids_meet_as_canonical_decimal() -> None:
    assert normalise_message_id("1F", IdFormat.HEX) == normalise_message_id("31", IdFormat.DECIMAL)
    assert normalise_message_id(" 0x1f\x00", IdFormat.HEX) == "31"
    assert normalise_message_id("00031\x00\x00", IdFormat.DECIMAL) == "31"


def test_text_ids_are_only_stripped() -> None:
    assert normalise_message_id(" AbC-1\x00", IdFormat.TEXT) == "AbC-1"


def test_an_id_that_is_not_a_number_in_its_form_is_lower_cased() -> None:
    assert normalise_message_id(" AB-12 ", IdFormat.DECIMAL) == "ab-12"
    assert normalise_message_id("XYZ", IdFormat.HEX) == "xyz"
    assert normalise_message_id("１２", IdFormat.DECIMAL) == "１２"


@given(st.text(), st.sampled_from(list(IdFormat)))
def test_normalising_an_id_never_raises_and_is_idempotent_for_text(
    value: str, form: IdFormat
) -> None:
    result = normalise_message_id(value, form)
    assert normalise_message_id(result, IdFormat.TEXT) == result


# IDs are at most 64 characters in SMPP; longer "numbers" are compared as text.
@given(st.integers(min_value=0, max_value=10**60), st.integers(0, 3), st.booleans())
def test_any_number_written_in_hex_matches_it_written_in_decimal(
    number: int, zeros: int, upper: bool
) -> None:
    hex_text = "0" * zeros + (f"{number:X}" if upper else f"{number:x}")
    assert normalise_message_id(hex_text, IdFormat.HEX) == normalise_message_id(
        "0" * zeros + str(number) + "\x00", IdFormat.DECIMAL
    )


@pytest.mark.parametrize(
    ("stat", "expected"),
    [
        ("DELIVRD", (ReceiptStatus.CONFIRMED, "")),
        ("delivered", (ReceiptStatus.CONFIRMED, "")),
        ("EXPIRED", (ReceiptStatus.FAILED, "expired")),
        ("DELETED", (ReceiptStatus.FAILED, "unknown")),
        ("UNDELIV", (ReceiptStatus.FAILED, "unreachable")),
        ("REJECTD", (ReceiptStatus.FAILED, "blocked")),
        ("UNKNOWN", (ReceiptStatus.UNKNOWN, "")),
        ("ENROUTE", None),
        ("ACCEPTD", None),
        ("WHATEVER", None),
        (None, None),
    ],
)
def test_stat_words_map_to_delivered_to_phone_and_a_delivery_error(
    stat: str | None, expected: tuple[ReceiptStatus, str] | None
) -> None:
    assert map_receipt_state(stat, None, None) == expected


def test_the_message_state_tlv_wins_over_the_stat_word() -> None:
    assert map_receipt_state("DELIVRD", 5, None) == (ReceiptStatus.FAILED, "unreachable")
    assert map_receipt_state("UNDELIV", 2, None) == (ReceiptStatus.CONFIRMED, "")
    assert map_receipt_state("DELIVRD", 1, None) is None
    assert map_receipt_state("DELIVRD", 99, None) == (ReceiptStatus.CONFIRMED, "")


@pytest.mark.parametrize(
    ("err", "word"),
    [("001", "contact absent - permanent"), ("027", "contact absent"), ("13", "blocked")],
)
def test_undelivered_with_a_map_error_names_the_reason(err: str, word: str) -> None:
    assert map_receipt_state("UNDELIV", None, err) == (ReceiptStatus.FAILED, word)
    assert map_receipt_state("EXPIRED", None, err) == (ReceiptStatus.FAILED, "expired")


@given(st.one_of(st.none(), st.text()), st.one_of(st.none(), st.integers()), st.text())
def test_delivery_errors_are_only_words_of_the_spec(
    stat: str | None, state: int | None, err: str
) -> None:
    mapped = map_receipt_state(stat, state, err)
    assert mapped is None or mapped[1] in SPEC_WORDS


def test_smsc_receipts_and_notifications_are_receipts_but_user_text_is_not() -> None:
    assert is_receipt_type(0x04) and is_receipt_type(0x08) and is_receipt_type(0x20)
    assert is_receipt_type(0x04 | 0x40)
    assert not is_receipt_type(0x00) and not is_receipt_type(0x10) and not is_receipt_type(0x40)


def test_a_receipt_is_read_from_its_text() -> None:
    receipt = read_receipt(0x04, RECEIPT.encode(), {}, IdFormat.DECIMAL)
    assert receipt is not None
    assert receipt.operator_message_id == "1234567890"
    assert (receipt.status, receipt.delivery_error, receipt.is_final) == (
        ReceiptStatus.CONFIRMED,
        "",
        True,
    )
    assert receipt.done_at == datetime(2025, 1, 1, 12, 1, tzinfo=UTC)
    assert receipt.state == "DELIVRD"


def test_the_receipted_message_id_and_message_state_tlvs_win_over_the_text() -> None:
    tlvs = {TAG_RECEIPTED_MESSAGE_ID: b"1F\x00", TAG_MESSAGE_STATE: b"\x03"}
    receipt = read_receipt(0x04, RECEIPT.encode(), tlvs, IdFormat.DECIMAL, IdFormat.HEX)
    assert receipt is not None
    assert receipt.operator_message_id == "31"
    assert (receipt.status, receipt.delivery_error) == (ReceiptStatus.FAILED, "expired")


def test_tlvs_alone_make_a_receipt() -> None:
    tlvs = {TAG_RECEIPTED_MESSAGE_ID: b"abc\x00", TAG_MESSAGE_STATE: b"\x02"}
    receipt = read_receipt(0x04, b"", tlvs, IdFormat.TEXT)
    assert receipt is not None
    assert (receipt.operator_message_id, receipt.status) == ("abc", ReceiptStatus.CONFIRMED)
    assert receipt.done_at is None


def test_an_enroute_notification_is_read_but_not_final() -> None:
    text = RECEIPT.replace("DELIVRD", "ENROUTE").encode()
    receipt = read_receipt(0x20, text, {}, IdFormat.DECIMAL)
    assert receipt is not None
    assert (receipt.is_final, receipt.status, receipt.state) == (
        False,
        ReceiptStatus.UNKNOWN,
        "ENROUTE",
    )


def test_a_handset_message_or_a_receipt_without_id_or_state_is_no_receipt() -> None:
    assert read_receipt(0x00, RECEIPT.encode(), {}, IdFormat.DECIMAL) is None
    assert read_receipt(0x04, b"stat:DELIVRD", {}, IdFormat.DECIMAL) is None
    assert read_receipt(0x04, b"id:12 text:hi", {}, IdFormat.DECIMAL) is None


@given(GSM_TEXT)
def test_gsm7_text_survives_encoding_and_decoding(text: str) -> None:
    assert decode_short_message(0x00, encode_gsm7_unpacked(text)) == text
    assert decode_short_message(0xF1, encode_gsm7_unpacked(text)) == text


def test_data_coding_0_with_a_high_byte_falls_back_to_latin1() -> None:
    assert decode_short_message(0x00, "café".encode("latin-1")) == "café"


@pytest.mark.parametrize(
    ("data_coding", "payload", "text"),
    [
        (0x00, b"\x00\x1b\x65", "@€"),
        (0x01, b"a@_", "a@_"),
        (0x03, b"caf\xe9", "café"),
        (0x08, "é😀".encode("utf-16-be"), "é😀"),
        (0x08, b"\x00a\x00", "a\ufffd"),
        (0x06, "Мир".encode("iso8859_5"), "Мир"),
        (0x11, b"\x00", "@"),
        (0x18, b"\x00a", "a"),
        (0x14, b"\xe9", "é"),
        (0xE0, b"\x00a", "a"),
        (0xF3, b"\x00", "@"),
        (0xF4, b"\x00\xe9", "\x00é"),
        (0x85, b"\xe9", "é"),
    ],
)
def test_inbound_payloads_are_decoded_by_their_data_coding(
    data_coding: int, payload: bytes, text: str
) -> None:
    assert decode_short_message(data_coding, payload) == text


@given(st.integers(min_value=-10, max_value=400), st.binary(max_size=300))
def test_decoding_an_inbound_payload_never_raises(data_coding: int, payload: bytes) -> None:
    assert isinstance(decode_short_message(data_coding, payload), str)


@given(
    st.sampled_from([Concatenation.UDH8, Concatenation.UDH16]),
    st.integers(min_value=0, max_value=2**32),
    st.integers(min_value=1, max_value=255).flatmap(
        lambda total: st.tuples(st.just(total), st.integers(min_value=1, max_value=total))
    ),
    st.binary(max_size=134),
)
def test_a_built_udh_splits_back_into_its_reference_part_and_payload(
    concatenation: Concatenation, reference: int, numbering: tuple[int, int], payload: bytes
) -> None:
    total, seq = numbering
    header = build_user_data_header(concatenation, reference, total, seq)
    modulus = 256 if concatenation == Concatenation.UDH8 else 65536
    info, body = split_user_data_header(header + payload)
    assert info == ConcatInfo(reference % modulus, total, seq)
    assert body == payload


@given(st.lists(st.text(alphabet="ab€", max_size=20), min_size=2, max_size=20))
def test_built_submit_parts_split_and_decode_back_into_the_parts(parts: list[str]) -> None:
    submits = build_submit_parts(tuple(parts), "gsm7", Concatenation.UDH8, 77)
    for seq, submit in enumerate(submits, start=1):
        info, body = split_user_data_header(submit.short_message)
        assert info == ConcatInfo(77, len(parts), seq)
        assert decode_short_message(submit.data_coding, body) == parts[seq - 1]


def test_a_concatenation_ie_is_found_among_other_ies() -> None:
    header = bytes((0x0A, 0x24, 0x01, 0x00, 0x08, 0x04, 0x01, 0x02, 0x03, 0x02, 0x70, 0x00))
    assert split_user_data_header(header[:-1] + b"hi") == (ConcatInfo(0x0102, 3, 2), b"hi")


def test_the_last_of_repeated_concatenation_ies_counts() -> None:
    header = bytes((0x0A, 0x00, 0x03, 0x01, 0x02, 0x01, 0x00, 0x03, 0x09, 0x04, 0x02))
    assert split_user_data_header(header + b"x") == (ConcatInfo(9, 4, 2), b"x")


def test_a_header_longer_than_the_payload_leaves_the_payload_unchanged() -> None:
    assert split_user_data_header(b"\x09\x00\x03\x01") == (None, b"\x09\x00\x03\x01")
    assert split_user_data_header(b"") == (None, b"")


def test_a_header_with_broken_ies_is_dropped_without_concatenation() -> None:
    assert split_user_data_header(b"\x03\x00\x05\x01hi") == (None, b"hi")
    assert split_user_data_header(b"\x05\x00\x03\x01\x02\x03hi") == (None, b"hi")
    assert split_user_data_header(b"\x05\x00\x03\x01\x02\x00hi") == (None, b"hi")


@given(st.binary(max_size=200))
def test_splitting_any_payload_never_raises(payload: bytes) -> None:
    info, body = split_user_data_header(payload)
    assert info is None or 1 <= info.seq <= info.total
    assert payload.endswith(body)


def test_sar_tlvs_give_the_concatenation() -> None:
    [_, second] = build_submit_parts(("a", "b"), "gsm7", Concatenation.SAR, 0x0305)
    assert concat_from_sar(dict(second.tlvs)) == ConcatInfo(0x0305, 2, 2)


def test_incomplete_or_inconsistent_sar_tlvs_give_none() -> None:
    assert concat_from_sar({}) is None
    assert concat_from_sar({0x020C: b"\x00\x01", 0x020E: b"\x02"}) is None
    assert concat_from_sar({0x020C: b"\x00\x01", 0x020E: b"\x02", 0x020F: b"\x03"}) is None
    assert concat_from_sar({0x020C: b"\x00\x00\x01", 0x020E: b"\x02", 0x020F: b"\x01"}) is None
