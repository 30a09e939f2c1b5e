"""SMS segmentation: GSM-7 vs UCS-2, part sizes, boundaries, and the GSM-7 byte codec."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tambuli.alphabets import decode_gsm7_unpacked, encode_gsm7_unpacked, encode_ucs2
from tambuli.messaging.segments import (
    MAX_PARTS,
    Encoding,
    NonGsmCharacter,
    SegmentedMessage,
    count_parts,
    gsm7_septet_count,
    is_gsm7,
    segment_message,
)

# Written out again here, row by row from 3GPP 23.038 6.2.1, as an independent oracle.
BASIC_ROWS = [
    (0x00, "@£$¥èéùìòÇ\nØø\rÅå"),
    (0x10, "Δ_ΦΓΛΩΠΨΣΘΞ"),  # 0x1B is the escape, not a character
    (0x1C, "ÆæßÉ"),
    (0x20, " !\"#¤%&'()*+,-./"),
    (0x30, "0123456789:;<=>?"),
    (0x40, "¡ABCDEFGHIJKLMNO"),
    (0x50, "PQRSTUVWXYZÄÖÑÜ§"),
    (0x60, "¿abcdefghijklmno"),
    (0x70, "pqrstuvwxyzäöñüà"),
]
BASIC = {char: first + offset for first, row in BASIC_ROWS for offset, char in enumerate(row)}
EXTENSION = {
    "\x0c": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}
ALL_GSM = "".join(BASIC) + "".join(EXTENSION)
EMOJI = "😀"


def septets(text: str) -> int:
    return sum(2 if char in EXTENSION else 1 for char in text)


def utf16_units(text: str) -> int:
    return len(encode_ucs2(text)) // 2


def test_the_basic_table_has_every_septet_but_the_escape() -> None:
    assert len(BASIC) == 127
    assert sorted(BASIC.values()) == [value for value in range(128) if value != 0x1B]


def test_the_escape_character_itself_is_not_gsm7() -> None:
    assert not is_gsm7("\x1b")
    with pytest.raises(ValueError):
        encode_gsm7_unpacked("a\x1bb")


@pytest.mark.parametrize(("char", "septet"), sorted(BASIC.items()))
def test_each_basic_character_encodes_as_its_own_septet(char: str, septet: int) -> None:
    assert encode_gsm7_unpacked(char) == bytes([septet])


@pytest.mark.parametrize(("char", "code"), sorted(EXTENSION.items()))
def test_each_extension_character_encodes_as_escape_and_code(char: str, code: int) -> None:
    assert encode_gsm7_unpacked(char) == bytes([0x1B, code])
    assert gsm7_septet_count(char) == 2


@pytest.mark.parametrize("char", ["`", "\t", "\x00", "\x7f", "ç", "á", "ã", "ğ", "你", EMOJI])
def test_characters_outside_both_tables_are_not_gsm7(char: str) -> None:
    assert not is_gsm7(char)
    with pytest.raises(ValueError):
        gsm7_septet_count(char)


def test_encode_and_decode_round_trip_for_every_gsm_character() -> None:
    assert decode_gsm7_unpacked(encode_gsm7_unpacked(ALL_GSM)) == ALL_GSM


def test_an_unknown_escape_code_decodes_as_the_basic_character() -> None:
    assert decode_gsm7_unpacked(bytes([0x41, 0x1B, 0x41, 0x42])) == "AAB"


def test_a_double_escape_or_trailing_escape_decodes_as_a_space() -> None:
    assert decode_gsm7_unpacked(bytes([0x41, 0x1B, 0x1B, 0x42])) == "A B"
    assert decode_gsm7_unpacked(bytes([0x41, 0x1B])) == "A "


def test_a_byte_above_0x7f_is_not_a_septet() -> None:
    with pytest.raises(ValueError):
        decode_gsm7_unpacked(bytes([0x41, 0x80]))


def test_ucs2_is_utf16_big_endian_without_bom() -> None:
    assert encode_ucs2("aé" + EMOJI) == b"\x00a\x00\xe9\xd8\x3d\xde\x00"


def test_empty_text_is_one_gsm7_part() -> None:
    message = segment_message("")
    assert message == SegmentedMessage(Encoding.GSM7, ("",), ())
    assert message.part_count == 1
    assert count_parts("") == 1


@pytest.mark.parametrize(
    ("length", "parts"),
    [(1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (7 * 153, 7), (7 * 153 + 1, 8)],
)
def test_gsm7_parts_hold_160_alone_and_153_when_concatenated(length: int, parts: int) -> None:
    message = segment_message("a" * length)
    assert message.encoding is Encoding.GSM7
    assert message.part_count == parts
    assert count_parts("a" * length) == parts


# 153 '€' is 306 septets, yet 3 parts: a 153-septet part holds only 76 escape pairs.
@pytest.mark.parametrize(("count", "parts"), [(80, 1), (81, 2), (152, 2), (153, 3)])
def test_extension_characters_count_two_septets(count: int, parts: int) -> None:
    assert gsm7_septet_count("€" * count) == 2 * count
    assert segment_message("€" * count).part_count == parts
    assert count_parts("€" * count) == parts


def test_an_escape_pair_is_never_split_across_parts() -> None:
    text = "a" * 152 + "€" + "b" * 10
    message = segment_message(text)
    assert message.parts == ("a" * 152, "€" + "b" * 10)
    assert count_parts(text) == 2


def test_an_escape_pair_that_fits_exactly_stays_in_its_part() -> None:
    message = segment_message("a" * 151 + "€" + "b" * 10)
    assert message.parts == ("a" * 151 + "€", "b" * 10)


@pytest.mark.parametrize(
    ("length", "parts"),
    [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (7 * 67, 7), (7 * 67 + 1, 8)],
)
def test_ucs2_parts_hold_70_alone_and_67_when_concatenated(length: int, parts: int) -> None:
    text = "你" * length
    message = segment_message(text)
    assert message.encoding is Encoding.UCS2
    assert message.part_count == parts
    assert count_parts(text) == parts


def test_an_emoji_counts_two_utf16_units() -> None:
    assert segment_message(EMOJI * 35).part_count == 1
    assert segment_message(EMOJI * 36).part_count == 2


def test_an_emoji_at_the_67th_unit_moves_whole_to_the_next_part() -> None:
    text = "a" * 66 + EMOJI + "b" * 10
    message = segment_message(text)
    assert message.parts == ("a" * 66, EMOJI + "b" * 10)
    assert count_parts(text) == 2


@pytest.mark.parametrize(
    ("length", "parts"),
    [(160, 1), (161, 2), (304, 2), (305, 3), (7 * 152, 7), (7 * 152 + 1, 8)],
)
def test_gsm7_parts_hold_152_after_a_7_octet_header(length: int, parts: int) -> None:
    message = segment_message("a" * length, header_octets=7)
    assert message.encoding is Encoding.GSM7
    assert message.part_count == parts
    assert {len(part) for part in message.parts[:-1]} <= {152}


def test_an_escape_pair_straddling_the_152nd_septet_moves_to_the_next_part() -> None:
    text = "a" * 151 + "€" + "b" * 10
    assert segment_message(text, header_octets=7).parts == ("a" * 151, "€" + "b" * 10)
    # With the standard header the same pair fits where it is.
    assert segment_message(text).parts == ("a" * 151 + "€", "b" * 10)


def test_an_escape_pair_ending_on_the_152nd_septet_stays_in_its_part() -> None:
    text = "a" * 150 + "€" + "b" * 10
    assert segment_message(text, header_octets=7).parts == ("a" * 150 + "€", "b" * 10)


@pytest.mark.parametrize(
    ("length", "parts"),
    [(70, 1), (71, 2), (132, 2), (133, 3), (7 * 66, 7), (7 * 66 + 1, 8)],
)
def test_ucs2_parts_hold_66_after_a_7_octet_header(length: int, parts: int) -> None:
    message = segment_message("你" * length, header_octets=7)
    assert message.encoding is Encoding.UCS2
    assert message.part_count == parts
    assert {len(part) for part in message.parts[:-1]} <= {66}


def test_an_emoji_at_the_66th_unit_moves_whole_to_the_next_part_after_a_7_octet_header() -> None:
    text = "a" * 65 + EMOJI + "b" * 10
    assert segment_message(text, header_octets=7).parts == ("a" * 65, EMOJI + "b" * 10)
    assert segment_message(text).parts == ("a" * 65 + EMOJI, "b" * 10)


def test_an_emoji_ending_on_the_66th_unit_stays_in_its_part() -> None:
    text = "a" * 64 + EMOJI + "b" * 10
    assert segment_message(text, header_octets=7).parts == ("a" * 64 + EMOJI, "b" * 10)


@pytest.mark.parametrize("text", ["a" * 200, "€" * 100, "你" * 100, "a" * 60 + EMOJI * 10])
def test_the_default_header_is_the_standard_6_octets(text: str) -> None:
    assert segment_message(text) == segment_message(text, header_octets=6)


def test_count_parts_counts_with_the_standard_header_whatever_a_channel_sends() -> None:
    assert segment_message("a" * 306, header_octets=7).part_count == 3
    assert count_parts("a" * 306) == 2


def test_a_header_too_long_for_a_part_is_refused() -> None:
    segment_message("a" * 300, header_octets=136)
    with pytest.raises(ValueError, match="header"):
        segment_message("a", header_octets=137)
    with pytest.raises(ValueError, match="header"):
        segment_message("a", header_octets=-1)


def test_one_non_gsm_character_makes_the_whole_message_ucs2_and_is_reported() -> None:
    text = "Hello " + "a" * 100 + " ç!"
    message = segment_message(text)
    assert message.encoding is Encoding.UCS2
    assert message.non_gsm_characters == (NonGsmCharacter(position=107, character="ç"),)
    assert message.part_count == 2


def test_every_non_gsm_character_is_reported_at_its_code_point_index() -> None:
    message = segment_message(f"{EMOJI}a`b{EMOJI}é")
    assert message.non_gsm_characters == (
        NonGsmCharacter(0, EMOJI),
        NonGsmCharacter(2, "`"),
        NonGsmCharacter(4, EMOJI),
    )


def test_gsm7_messages_report_no_non_gsm_characters() -> None:
    assert segment_message("Salamat po! €5 {ok}").non_gsm_characters == ()


def test_max_parts_is_seven() -> None:
    assert MAX_PARTS == 7


def test_the_encodings_are_plain_strings_for_json() -> None:
    assert [str(encoding) for encoding in Encoding] == ["gsm7", "ucs2"]
    assert Encoding("ucs2") is Encoding.UCS2


# Mixed text leans on GSM so that GSM-7 and UCS-2 messages of several parts both turn up.
GSM_CHARACTERS = st.sampled_from(ALL_GSM)
EXTENSION_CHARACTERS = st.sampled_from("".join(EXTENSION))
OTHER_CHARACTERS = st.one_of(
    st.characters(min_codepoint=0xA0, max_codepoint=0xFF),
    st.characters(min_codepoint=0x100, max_codepoint=0xFFFF, exclude_categories=["Cs"]),
    st.characters(min_codepoint=0x10000),
)


def texts_of_any_length(alphabet: st.SearchStrategy[str], max_size: int) -> st.SearchStrategy[str]:
    # Drawing the length first makes long texts (several parts, many boundaries) as common as
    # short ones; plain st.text rarely goes past one part.
    return st.integers(0, max_size).flatmap(
        lambda size: st.text(alphabet, min_size=size, max_size=size)
    )


GSM_TEXT = texts_of_any_length(st.one_of(GSM_CHARACTERS, EXTENSION_CHARACTERS), 8 * 153)
MIXED_TEXT = texts_of_any_length(st.one_of(GSM_CHARACTERS, OTHER_CHARACTERS), 8 * 67)
TEXTS = st.one_of(GSM_TEXT, MIXED_TEXT)


def cost(text: str, encoding: Encoding) -> int:
    return septets(text) if encoding is Encoding.GSM7 else utf16_units(text)


# Septets and UCS-2 units a concatenated part holds after a header of so many octets (23.040).
MULTIPART_CAPACITY = {6: (153, 67), 7: (152, 66)}
HEADER_OCTETS = st.sampled_from(sorted(MULTIPART_CAPACITY))


def capacity(message: SegmentedMessage, header_octets: int = 6) -> int:
    single = message.part_count == 1
    gsm7, ucs2 = MULTIPART_CAPACITY[header_octets]
    if message.encoding is Encoding.GSM7:
        return 160 if single else gsm7
    return 70 if single else ucs2


@settings(max_examples=200, deadline=None)
@given(TEXTS, HEADER_OCTETS)
def test_parts_rejoin_to_the_original_text(text: str, header_octets: int) -> None:
    assert "".join(segment_message(text, header_octets).parts) == text


@settings(max_examples=200, deadline=None)
@given(TEXTS, HEADER_OCTETS)
def test_every_part_fits_its_size(text: str, header_octets: int) -> None:
    message = segment_message(text, header_octets)
    for part in message.parts:
        assert cost(part, message.encoding) <= capacity(message, header_octets)


@settings(max_examples=200, deadline=None)
@given(TEXTS, HEADER_OCTETS)
def test_no_part_splits_an_escape_pair_or_a_surrogate_pair(text: str, header_octets: int) -> None:
    message = segment_message(text, header_octets)
    for part in message.parts:
        if message.encoding is Encoding.GSM7:
            encoded = encode_gsm7_unpacked(part)
            assert decode_gsm7_unpacked(encoded) == part
            assert len(encoded) == gsm7_septet_count(part)
        else:
            units = encode_ucs2(part)
            assert not units[-2:-1] or not 0xD8 <= units[-2] <= 0xDB  # no trailing high half
            assert not units[:1] or not 0xDC <= units[0] <= 0xDF  # no leading low half


@settings(max_examples=200, deadline=None)
@given(TEXTS, HEADER_OCTETS)
def test_part_count_is_minimal_because_each_full_part_could_not_take_the_next_character(
    text: str, header_octets: int
) -> None:
    message = segment_message(text, header_octets)
    parts = message.parts
    if len(parts) > 1:
        assert cost(text, message.encoding) > (160 if message.encoding is Encoding.GSM7 else 70)
    for part, following in pairwise(parts):
        assert part and following
        assert cost(part + following[0], message.encoding) > capacity(message, header_octets)


@settings(max_examples=200, deadline=None)
@given(TEXTS)
def test_the_encoding_and_reported_characters_follow_the_tables(text: str) -> None:
    message = segment_message(text)
    expected = tuple(
        NonGsmCharacter(index, char)
        for index, char in enumerate(text)
        if char not in BASIC and char not in EXTENSION
    )
    assert message.non_gsm_characters == expected
    assert message.encoding is (Encoding.UCS2 if expected else Encoding.GSM7)
    assert is_gsm7(text) is (not expected)


@settings(max_examples=200, deadline=None)
@given(TEXTS)
def test_count_parts_agrees_with_segment_message(text: str) -> None:
    assert count_parts(text) == segment_message(text).part_count


@settings(max_examples=200, deadline=None)
@given(GSM_TEXT)
def test_gsm7_text_survives_encoding_and_decoding(text: str) -> None:
    encoded = encode_gsm7_unpacked(text)
    assert len(encoded) == gsm7_septet_count(text) == septets(text)
    assert decode_gsm7_unpacked(encoded) == text


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200).map(lambda data: bytes(byte & 0x7F for byte in data)))
def test_any_septets_decode_without_error(data: bytes) -> None:
    assert isinstance(decode_gsm7_unpacked(data), str)
