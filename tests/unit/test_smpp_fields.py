"""SMPP outbound fields: submit_sm payloads, UDH and SAR concatenation, command_status mapping."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tambuli.channels.base import Outcome
from tambuli.channels.sms.smpp.fields import (
    COMMAND_STATUSES,
    DATA_CODING_GSM7,
    DATA_CODING_UCS2,
    ESM_CLASS_UDHI,
    TAG_SAR_MSG_REF_NUM,
    TAG_SAR_SEGMENT_SEQNUM,
    TAG_SAR_TOTAL_SEGMENTS,
    UDH_OCTETS,
    Concatenation,
    StatusKind,
    SubmitPart,
    build_submit_parts,
    build_user_data_header,
    classify_command_status,
    format_status_table,
)
from tambuli.messaging.segments import segment_message

DOCS = Path(__file__).resolve().parents[2] / "docs" / "channels.md"

# The codes of the SMPP 3.4 table (5.1.3), written out again here as an independent list.
SMPP_34_CODES = [
    *range(0x00, 0x09),
    *range(0x0A, 0x10),
    0x11,
    0x13,
    0x14,
    0x15,
    0x33,
    0x34,
    0x40,
    *range(0x42, 0x46),
    0x48,
    0x49,
    0x50,
    0x51,
    *range(0x53, 0x56),
    0x58,
    *range(0x61, 0x68),
    *range(0xC0, 0xC5),
    0xFE,
    0xFF,
]


def test_a_single_part_has_no_header_and_no_tlvs() -> None:
    submits = build_submit_parts(("Hello",), "gsm7", Concatenation.UDH8, 9)
    assert submits == [SubmitPart(0, DATA_CODING_GSM7, b"Hello", ())]


def test_gsm7_payload_is_one_unpacked_septet_per_octet_with_escapes() -> None:
    [submit] = build_submit_parts(("@€_",), "gsm7", Concatenation.SAR, 1)
    assert submit.short_message == bytes((0x00, 0x1B, 0x65, 0x11))


def test_ucs2_payload_is_utf16_big_endian_with_surrogate_pairs() -> None:
    [submit] = build_submit_parts(("é😀",), "ucs2", Concatenation.UDH8, 1)
    assert submit.data_coding == DATA_CODING_UCS2
    assert submit.short_message == bytes.fromhex("00e9d83dde00")


def test_udh_8_bit_reference_has_iei_0_and_five_octets() -> None:
    submits = build_submit_parts(("ab", "cd"), "gsm7", Concatenation.UDH8, 42)
    assert [s.short_message for s in submits] == [
        bytes((0x05, 0x00, 0x03, 42, 2, 1)) + b"ab",
        bytes((0x05, 0x00, 0x03, 42, 2, 2)) + b"cd",
    ]
    assert all(s.esm_class == ESM_CLASS_UDHI and s.tlvs == () for s in submits)


def test_udh_16_bit_reference_has_iei_8_and_six_octets() -> None:
    submits = build_submit_parts(("ab", "cd", "ef"), "gsm7", Concatenation.UDH16, 0x1234)
    assert submits[2].short_message == bytes((0x06, 0x08, 0x04, 0x12, 0x34, 3, 3)) + b"ef"
    assert submits[2].esm_class == ESM_CLASS_UDHI


def test_udh_8_bit_reference_is_taken_modulo_256() -> None:
    submits = build_submit_parts(("a", "b"), "gsm7", Concatenation.UDH8, 256 + 7)
    assert submits[0].short_message[3] == 7


def test_udh_16_bit_and_sar_references_are_taken_modulo_65536() -> None:
    udh = build_submit_parts(("a", "b"), "gsm7", Concatenation.UDH16, 65536 + 0x0102)
    sar = build_submit_parts(("a", "b"), "gsm7", Concatenation.SAR, 65536 + 0x0102)
    assert udh[0].short_message[3:5] == b"\x01\x02"
    assert dict(sar[0].tlvs)[TAG_SAR_MSG_REF_NUM] == b"\x01\x02"


def test_sar_parts_carry_three_tlvs_and_no_header() -> None:
    submits = build_submit_parts(("ab", "cd"), "ucs2", Concatenation.SAR, 300)
    assert submits[1] == SubmitPart(
        0,
        DATA_CODING_UCS2,
        b"\x00c\x00d",
        (
            (TAG_SAR_MSG_REF_NUM, b"\x01\x2c"),
            (TAG_SAR_TOTAL_SEGMENTS, b"\x02"),
            (TAG_SAR_SEGMENT_SEQNUM, b"\x02"),
        ),
    )


def test_more_than_255_parts_are_refused() -> None:
    with pytest.raises(ValueError, match="255"):
        build_submit_parts(("a",) * 256, "gsm7", Concatenation.UDH8, 1)


def test_255_parts_are_numbered_up_to_255() -> None:
    submits = build_submit_parts(("a",) * 255, "gsm7", Concatenation.UDH8, 1)
    assert submits[-1].short_message[4:6] == bytes((255, 255))


def test_an_unknown_encoding_is_refused() -> None:
    with pytest.raises(ValueError, match="encoding"):
        build_submit_parts(("a",), "latin1", Concatenation.UDH8, 1)


def test_a_message_without_parts_is_refused() -> None:
    with pytest.raises(ValueError):
        build_submit_parts((), "gsm7", Concatenation.UDH8, 1)


def test_full_parts_fit_one_sms_with_an_8_bit_reference() -> None:
    build_submit_parts(("a" * 153, "a"), "gsm7", Concatenation.UDH8, 1)
    build_submit_parts(("é" * 67, "a"), "ucs2", Concatenation.UDH8, 1)
    build_submit_parts(("a" * 160,), "gsm7", Concatenation.UDH8, 1)
    build_submit_parts(("é" * 70,), "ucs2", Concatenation.UDH8, 1)


def test_a_16_bit_reference_leaves_room_for_152_septets_or_66_units() -> None:
    build_submit_parts(("a" * 152, "a"), "gsm7", Concatenation.UDH16, 1)
    build_submit_parts(("é" * 66, "a"), "ucs2", Concatenation.UDH16, 1)
    with pytest.raises(ValueError, match="140"):
        build_submit_parts(("a" * 153, "a"), "gsm7", Concatenation.UDH16, 1)
    with pytest.raises(ValueError, match="140"):
        build_submit_parts(("é" * 67, "a"), "ucs2", Concatenation.UDH16, 1)


def test_152_septets_of_escape_pairs_fit_a_16_bit_reference_and_153_do_not() -> None:
    build_submit_parts(("€" * 76, "a"), "gsm7", Concatenation.UDH16, 1)
    with pytest.raises(ValueError, match="140"):
        build_submit_parts(("a" + "€" * 76, "a"), "gsm7", Concatenation.UDH16, 1)


@pytest.mark.parametrize("concatenation", [Concatenation.UDH8, Concatenation.UDH16])
def test_udh_octets_are_the_length_of_each_header(concatenation: Concatenation) -> None:
    assert len(build_user_data_header(concatenation, 1, 2, 1)) == UDH_OCTETS[concatenation]


@settings(max_examples=100, deadline=None)
@given(
    st.one_of(
        st.text(alphabet=st.sampled_from("ab€{"), min_size=161, max_size=1200),
        st.text(alphabet=st.sampled_from("ab€{😀你"), min_size=71, max_size=500),
    ),
    st.sampled_from([Concatenation.UDH8, Concatenation.UDH16]),
)
def test_parts_cut_for_a_headers_size_fit_one_sms_with_that_header(
    text: str, concatenation: Concatenation
) -> None:
    segmented = segment_message(text, UDH_OCTETS[concatenation])
    submits = build_submit_parts(segmented.parts, segmented.encoding.value, concatenation, 7)
    assert len(submits) == segmented.part_count


def test_a_part_longer_than_one_sms_is_refused() -> None:
    with pytest.raises(ValueError, match="140"):
        build_submit_parts(("a" * 161,), "gsm7", Concatenation.SAR, 1)


@given(
    st.lists(st.text(alphabet="abc€", max_size=10), min_size=2, max_size=40),
    st.sampled_from([Concatenation.UDH8, Concatenation.UDH16]),
    st.integers(min_value=0, max_value=2**32),
)
def test_udh_parts_are_numbered_in_order_behind_one_reference(
    parts: list[str], concatenation: Concatenation, reference: int
) -> None:
    submits = build_submit_parts(tuple(parts), "gsm7", concatenation, reference)
    headers = [s.short_message[: s.short_message[0] + 1] for s in submits]
    numbers = [bytes((len(parts), seq)) for seq in range(1, len(parts) + 1)]
    assert [h[-2:] for h in headers] == numbers
    assert len({h[:-1] for h in headers}) == 1


def test_success_is_ok_and_accepted() -> None:
    verdict = classify_command_status(0x00)
    assert (verdict.kind, verdict.outcome, verdict.error) == (StatusKind.OK, Outcome.ACCEPTED, "")


@pytest.mark.parametrize("status", [0x58, 0x14])
def test_throttling_and_a_full_queue_slow_the_bind_and_retry(status: int) -> None:
    verdict = classify_command_status(status)
    assert verdict.kind == StatusKind.THROTTLED
    assert verdict.outcome == Outcome.TRANSIENT


@pytest.mark.parametrize(
    "status", [0x04, 0x08, 0x0D, 0x0E, 0x0F, 0x45, 0x64, 0xFE, 0xFF, 0x09, 0x4A, 0x99, 0xFFFF]
)
def test_trouble_at_the_smsc_or_the_session_is_transient(status: int) -> None:
    verdict = classify_command_status(status)
    assert verdict.kind == StatusKind.TRANSIENT
    assert verdict.outcome == Outcome.TRANSIENT


@pytest.mark.parametrize(
    "status", [0x01, 0x0A, 0x0B, 0x43, 0x48, 0x49, 0x50, 0x51, 0x62, 0x65, 0x66, 0xC4, 0x104]
)
def test_a_refused_field_of_the_message_is_permanent(status: int) -> None:
    verdict = classify_command_status(status)
    assert verdict.kind == StatusKind.PERMANENT
    assert verdict.outcome == Outcome.PERMANENT


def test_the_error_text_names_the_problem_and_the_status() -> None:
    verdict = classify_command_status(0x0B)
    assert verdict.error == "invalid destination address (ESME_RINVDSTADR)"
    assert verdict.name == "ESME_RINVDSTADR"


@pytest.mark.parametrize("status", [0x400, 0x4AB, 0x4FF])
def test_vendor_specific_codes_are_transient_and_say_so(status: int) -> None:
    verdict = classify_command_status(status)
    assert verdict.kind == StatusKind.TRANSIENT
    assert verdict.error == f"vendor-specific error 0x{status:X}"


def test_an_unknown_code_is_transient_with_its_number_in_the_error() -> None:
    assert classify_command_status(0x4A).error == "unknown error 0x4A"


def test_every_smpp_34_status_code_is_in_the_table() -> None:
    assert set(SMPP_34_CODES) <= set(COMMAND_STATUSES)


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_only_codes_in_the_table_are_permanent(status: int) -> None:
    verdict = classify_command_status(status)
    assert verdict.code == status
    if verdict.kind == StatusKind.PERMANENT:
        assert status in COMMAND_STATUSES
    if verdict.kind != StatusKind.OK:
        assert verdict.error


def test_the_status_table_has_a_row_per_code_and_for_the_rest() -> None:
    table = format_status_table()
    lines = table.splitlines()
    assert lines[0] == "| code | name | outcome | `error` |"
    assert len(lines) == 2 + len(COMMAND_STATUSES) + 2
    assert "| `0x0B` | `ESME_RINVDSTADR` | permanent |" in table
    assert "| `0x58` | `ESME_RTHROTTLED` | throttled |" in table


def test_docs_channels_md_holds_the_status_table() -> None:
    assert format_status_table() in DOCS.read_text(encoding="utf-8")
