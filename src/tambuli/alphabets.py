"""The GSM 03.38 default alphabet and the SMS payload codecs (GSM-7 unpacked, UCS-2).

A bottom-layer module: messaging segments text with these tables, and channels encode the
parts with them, so both agree on what one septet is.
"""

from __future__ import annotations

GSM_ESCAPE = 0x1B

# GSM 03.38 basic table, indexed by septet value. 0x1B is the escape to the extension table,
# not a character; the placeholder at that index is excluded from everything encodable.
GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)

# Extension table: sent as ESC + code, so each costs two septets.
GSM_EXTENSION = {
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
_EXTENSION_BY_CODE = {code: char for char, code in GSM_EXTENSION.items()}

_BASIC_CHARACTERS = frozenset(GSM_BASIC) - {chr(GSM_ESCAPE)}
GSM_CHARACTERS = _BASIC_CHARACTERS | frozenset(GSM_EXTENSION)

# str.translate table for encoding: every GSM character to its septet(s) as code points < 0x80.
_TO_SEPTETS = {ord(char): chr(GSM_BASIC.index(char)) for char in _BASIC_CHARACTERS} | {
    ord(char): chr(GSM_ESCAPE) + chr(code) for char, code in GSM_EXTENSION.items()
}


def encode_gsm7_unpacked(text: str) -> bytes:
    """GSM-7 septets of `text`, one per byte, extension characters as 0x1B + code."""
    if not GSM_CHARACTERS.issuperset(text):
        raise ValueError("text has characters outside the GSM 7-bit alphabet")
    # After translation every code point is below 0x80, so latin-1 turns it into one byte each.
    return text.translate(_TO_SEPTETS).encode("latin-1")


def decode_gsm7_unpacked(data: bytes) -> str:
    """Text of unpacked GSM-7 septets (one per byte); ValueError on a byte above 0x7F."""
    if not data.isascii():
        raise ValueError("data has a byte above 0x7F, which is not a 7-bit septet")
    characters: list[str] = []
    septets = iter(data)
    for septet in septets:
        if septet != GSM_ESCAPE:
            characters.append(GSM_BASIC[septet])
            continue
        # A trailing escape is treated like ESC ESC (reserved), which 23.038 displays as a space.
        code = next(septets, GSM_ESCAPE)
        if code in _EXTENSION_BY_CODE:
            characters.append(_EXTENSION_BY_CODE[code])
        elif code == GSM_ESCAPE:
            characters.append(" ")
        else:
            # 23.038 6.2.1.1: an undefined extension code shows the basic table's character.
            characters.append(GSM_BASIC[code])
    return "".join(characters)


def encode_ucs2(text: str) -> bytes:
    """UCS-2 payload of `text`: UTF-16 big endian, no BOM."""
    # surrogatepass: a lone surrogate that got past validation is sent, not crashed on.
    return text.encode("utf-16-be", "surrogatepass")


def decode_ucs2(data: bytes) -> str:
    """Text of a UCS-2 (UTF-16 big endian) payload; an odd last byte or bad pair becomes U+FFFD."""
    return data.decode("utf-16-be", "replace")
