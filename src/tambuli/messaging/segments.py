"""SMS segmentation per GSM 03.38 / 3GPP 23.040: GSM-7 or UCS-2, the parts, and why UCS-2."""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from enum import StrEnum
from itertools import accumulate

from tambuli.alphabets import GSM_CHARACTERS, GSM_ESCAPE, GSM_EXTENSION
from tambuli.records import frozen_record

# The API refuses messages longer than this many parts; segmenting itself has no limit.
MAX_PARTS = 7

# Octets of the standard concatenation header (a UDH with an 8-bit reference, its length octet
# included): parts are counted, and billed, as cut for this header.
STANDARD_HEADER_OCTETS = 6

# Capacities from 3GPP 23.040: one SMS carries 140 octets of user data. A part of a longer
# message gives some of them to its concatenation header (153 septets or 67 units are left
# after 6 octets, 152 or 66 after the 7 of a 16-bit reference).
_USER_DATA_OCTETS = 140
_GSM7_SINGLE = 160
_UCS2_SINGLE = 70

# Pure-ASCII text (the common case) is checked with bytes.translate, which runs in C.
_ASCII_GSM = bytes(sorted(ord(char) for char in GSM_CHARACTERS if ord(char) < 0x80))
_ASCII_EXTENSION = bytes(sorted(ord(char) for char in GSM_EXTENSION if ord(char) < 0x80))

# Regexes find positions in C for non-ASCII text, without a per-character Python loop.
_NON_GSM = re.compile("[^" + re.escape("".join(sorted(GSM_CHARACTERS))) + "]")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")  # two UTF-16 units (a surrogate pair) each


class Encoding(StrEnum):
    """Data coding a message is sent with."""

    GSM7 = "gsm7"  # GSM 03.38 7-bit default alphabet plus its extension table
    UCS2 = "ucs2"  # UTF-16 big endian; needed as soon as one character is outside GSM-7


@dataclass(frozen=True, slots=True)
class NonGsmCharacter:
    """A character that forced UCS-2, at its code point index in the text."""

    position: int
    character: str


@frozen_record(slots=True)
class SegmentedMessage:
    """A message split into the parts it is sent as."""

    encoding: Encoding
    parts: tuple[str, ...]
    non_gsm_characters: tuple[NonGsmCharacter, ...]

    @property
    def part_count(self) -> int:
        """Number of SMS parts the message is split into."""
        return len(self.parts)


def _gsm7_septets(text: str) -> int | None:
    """Septets the text needs as GSM-7, or None when some character is not GSM-7."""
    if text.isascii():
        data = text.encode("ascii")
        if data.translate(None, _ASCII_GSM):
            return None
        # Each extension character adds one escape septet on top of its own.
        return 2 * len(data) - len(data.translate(None, _ASCII_EXTENSION))
    if _NON_GSM.search(text) is not None:
        return None
    return len(text) + sum(map(text.count, GSM_EXTENSION))


def _multipart_capacities(header_octets: int) -> tuple[int, int]:
    """Septets (GSM-7) and UTF-16 units (UCS-2) one part holds after its concatenation header."""
    # A part must hold two septets or units at least, or an escape pair or an emoji that
    # starts a part could never be placed.
    if not 0 <= header_octets <= _USER_DATA_OCTETS - 4:
        raise ValueError(f"a header of {header_octets} octets: parts allow 0 to 136")
    room = _USER_DATA_OCTETS - header_octets
    # GSM-7 septets start on a septet boundary after the header: the fill bits carry nothing.
    return room * 8 // 7, room // 2


def _split_gsm7(text: str, capacity: int) -> tuple[str, ...]:
    """Fill parts of `capacity` septets, moving an escape pair that would straddle a boundary."""
    # Mark each extension character with a leading escape (never in GSM-7 text), giving one
    # string position per septet; then each part costs a few C calls, not a per-character loop.
    # A part ending in an escape would split a pair.
    escape = chr(GSM_ESCAPE)
    septets = text
    for char in GSM_EXTENSION:
        septets = septets.replace(char, escape + char)
    parts: list[str] = []
    start = 0
    offset = 0
    while offset < len(septets):
        chunk = septets[offset : offset + capacity]
        if chunk[-1] == escape:
            chunk = chunk[:-1]
        stop = start + len(chunk) - chunk.count(escape)
        parts.append(text[start:stop])
        start = stop
        offset += len(chunk)
    return tuple(parts)


def _split_ucs2(text: str, astral: list[int], capacity: int) -> tuple[str, ...]:
    """Fill parts of `capacity` units; the characters at `astral` cost two and are never split."""
    if not astral:
        return tuple(text[start : start + capacity] for start in range(0, len(text), capacity))
    costs = [1] * len(text)
    for position in astral:
        costs[position] = 2
    # used_after[i] = units used by text[: i + 1]; strictly increasing, so bisect finds where
    # the next part would overflow, and a surrogate pair that does not fit moves whole.
    used_after = list(accumulate(costs))
    parts: list[str] = []
    start = 0
    used = 0
    while start < len(text):
        stop = bisect_right(used_after, used + capacity, lo=start)
        parts.append(text[start:stop])
        used = used_after[stop - 1]
        start = stop
    return tuple(parts)


def _parts(text: str, septets: int | None, header_octets: int) -> tuple[Encoding, tuple[str, ...]]:
    """Encoding and parts, given the text's GSM-7 septet count (None when not GSM-7)."""
    gsm7_capacity, ucs2_capacity = _multipart_capacities(header_octets)
    if septets is not None:
        if septets <= _GSM7_SINGLE:
            return Encoding.GSM7, (text,)
        return Encoding.GSM7, _split_gsm7(text, gsm7_capacity)
    astral = [] if text.isascii() else [match.start() for match in _ASTRAL.finditer(text)]
    if len(text) + len(astral) <= _UCS2_SINGLE:
        return Encoding.UCS2, (text,)
    return Encoding.UCS2, _split_ucs2(text, astral, ucs2_capacity)


def segment_message(text: str, header_octets: int = STANDARD_HEADER_OCTETS) -> SegmentedMessage:
    """Choose the encoding and split `text` into parts that each leave `header_octets` free."""
    septets = _gsm7_septets(text)
    encoding, parts = _parts(text, septets, header_octets)
    if septets is not None:
        return SegmentedMessage(encoding, parts, ())
    # Regex scanning is in C, so a long message with one emoji does not loop in Python.
    non_gsm = tuple(NonGsmCharacter(m.start(), m.group()) for m in _NON_GSM.finditer(text))
    return SegmentedMessage(encoding, parts, non_gsm)


def count_parts(text: str) -> int:
    """Parts `text` is counted and billed as: segment_message(text).part_count, standard header."""
    septets = _gsm7_septets(text)
    if septets is not None and septets == len(text):
        # Only basic-table characters: no escape pair can straddle a boundary.
        gsm7_capacity, _ = _multipart_capacities(STANDARD_HEADER_OCTETS)
        return 1 if septets <= _GSM7_SINGLE else -(-septets // gsm7_capacity)
    return len(_parts(text, septets, STANDARD_HEADER_OCTETS)[1])


def is_gsm7(text: str) -> bool:
    """Whether every character of `text` is in the GSM-7 basic or extension table."""
    return _gsm7_septets(text) is not None


def gsm7_septet_count(text: str) -> int:
    """Septets `text` needs as GSM-7 (extension characters count two); ValueError if not GSM-7."""
    septets = _gsm7_septets(text)
    if septets is None:
        raise ValueError("text has characters outside the GSM 7-bit alphabet")
    return septets
