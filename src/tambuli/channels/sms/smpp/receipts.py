"""SMPP 3.4 inbound fields: delivery receipts, operator message IDs, MO text and its UDH/SAR parts.

Pure: no I/O and no clock; the session code passes each deliver_sm's fields and the time in.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache

from tambuli.alphabets import decode_gsm7_unpacked, decode_ucs2
from tambuli.channels.base import ReceiptStatus
from tambuli.channels.sms.smpp.fields import (
    IEI_CONCAT_8BIT,
    IEI_CONCAT_16BIT,
    TAG_SAR_MSG_REF_NUM,
    TAG_SAR_SEGMENT_SEQNUM,
    TAG_SAR_TOTAL_SEGMENTS,
)
from tambuli.records import frozen_record

TAG_RECEIPTED_MESSAGE_ID = 0x001E
TAG_MESSAGE_STATE = 0x0427
# esm_class bits 2-5 of a deliver_sm: the message type.
ESM_CLASS_TYPE_MASK = 0x3C
ESM_CLASS_SMSC_RECEIPT = 0x04
ESM_CLASS_SME_ACK = 0x08
ESM_CLASS_INTERMEDIATE = 0x20
# SMSC receipts, SME delivery acknowledgements and intermediate notifications all report on a
# message we sent; a user acknowledgement (0x10) carries the handset user's own text: inbound.
RECEIPT_TYPES = frozenset({ESM_CLASS_SMSC_RECEIPT, ESM_CLASS_SME_ACK, ESM_CLASS_INTERMEDIATE})

# SMPP message IDs are at most 64 octets; the bound also keeps int-to-text cheap.
_MAX_NUMERIC_ID = 64
_PADDING = "\x00" + string.whitespace

_RECEIPT_KEY = re.compile(
    r"(?<![0-9A-Za-z_])(id|sub|dlvrd|submit[\s_]*date|done[\s_]*date|stat|err|text)\s*:",
    re.IGNORECASE,
)

# message_state values (SMPP 3.4 5.2.28) as the receipt text's stat words.
_STATE_WORDS = dict(
    enumerate(
        ("ENROUTE", "DELIVRD", "EXPIRED", "DELETED", "UNDELIV", "ACCEPTD", "UNKNOWN", "REJECTD"),
        start=1,
    )
)
# Some SMSCs spell the states out.
_STATE_SPELLINGS = {
    "DELIVERED": "DELIVRD",
    "UNDELIVERABLE": "UNDELIV",
    "UNDELIVERED": "UNDELIV",
    "ACCEPTED": "ACCEPTD",
    "REJECTED": "REJECTD",
}
_FINAL_STATES: dict[str, tuple[ReceiptStatus, str]] = {
    "DELIVRD": (ReceiptStatus.CONFIRMED, ""),
    "EXPIRED": (ReceiptStatus.FAILED, "expired"),
    # Deleted by the SMSC or a cancel_sm: the handset never got it, and the reason is not ours.
    "DELETED": (ReceiptStatus.FAILED, "unknown"),
    "UNDELIV": (ReceiptStatus.FAILED, "unreachable"),
    # "Invalid state" in SMPP 3.4: final, but says nothing about the handset.
    "UNKNOWN": (ReceiptStatus.UNKNOWN, ""),
    # The spec's vocabulary has no "rejected"; an SMSC refusing delivery is closest to blocked.
    "REJECTD": (ReceiptStatus.FAILED, "blocked"),
}
# GSM MAP error codes (3GPP 29.002), which many SMSCs put in `err` for undelivered messages.
_MAP_ERRORS = {1: "contact absent - permanent", 13: "blocked", 27: "contact absent"}


@dataclass(frozen=True, slots=True)
class ReceiptText:
    """The fields of an SMPP 3.4 Appendix B receipt text, as written (None when absent)."""

    message_id: str
    stat: str
    sub: str | None = None
    dlvrd: str | None = None
    submit_date: str | None = None
    done_date: str | None = None
    err: str | None = None
    text: str | None = None


def parse_receipt_text(text: str) -> ReceiptText | None:
    """The fields of `id:… sub:… dlvrd:… submit date:… done date:… stat:… err:… text:…`."""
    fields = read_receipt_fields(text)
    message_id, stat = fields.get("id"), fields.get("stat")
    if not message_id or not stat:
        return None
    return ReceiptText(
        message_id=message_id,
        stat=stat,
        sub=fields.get("sub"),
        dlvrd=fields.get("dlvrd"),
        submit_date=fields.get("submit_date"),
        done_date=fields.get("done_date"),
        err=fields.get("err"),
        text=fields.get("text"),
    )


# Key names as SMSCs write them, normalised (see _name_receipt_key).
_KEY_NAMES: dict[str, str] = {}


def _name_receipt_key(written: str) -> str:
    """`Submit Date`, `submit_date` or `SUBMIT  date` as `submit_date`."""
    name = _KEY_NAMES.get(written)
    if name is None:
        name = re.sub(r"[\s_]+", "_", written.lower())
        if len(_KEY_NAMES) < 1000:  # every SMSC writes its few keys the same way each time
            _KEY_NAMES[written] = name
    return name


# The layout nearly every SMSC writes (SMPP 3.4 appendix B), read in one match. Its values are
# letters and digits only: a key needs a character that is neither before it, so none can hide
# in a value, and the match reads what read_any_receipt_fields reads.
_STANDARD_RECEIPT = re.compile(
    r"id:([0-9A-Za-z]+) sub:([0-9A-Za-z]+) dlvrd:([0-9A-Za-z]+) submit date:([0-9A-Za-z]+)"
    r" done date:([0-9A-Za-z]+) stat:([0-9A-Za-z]+) err:([0-9A-Za-z]+)(?: text:(.*))?",
    re.DOTALL,
)
_STANDARD_KEYS = ("id", "sub", "dlvrd", "submit_date", "done_date", "stat", "err")


def read_receipt_fields(text: str) -> dict[str, str]:
    """Key to value; `text:` takes the rest, since it quotes the message and may hold anything."""
    standard = _STANDARD_RECEIPT.fullmatch(text)
    if standard is None:
        return read_any_receipt_fields(text)
    fields = dict(zip(_STANDARD_KEYS, standard.groups(), strict=False))
    quoted = standard[8]
    if quoted is not None:
        fields["text"] = quoted.strip()
    return fields


def read_any_receipt_fields(text: str) -> dict[str, str]:
    """read_receipt_fields for any spelling, order or spacing of the keys."""
    fields: dict[str, str] = {}
    keys = list(_RECEIPT_KEY.finditer(text))
    for index, key in enumerate(keys):
        name = _name_receipt_key(key.group(1))
        if name == "text":
            fields.setdefault(name, text[key.end() :].strip())
            break
        end = keys[index + 1].start() if index + 1 < len(keys) else len(text)
        words = text[key.end() : end].split()
        fields.setdefault(name, words[0] if words else "")
    return fields


class IdFormat(StrEnum):
    """How an SMSC writes an operator message ID."""

    TEXT = "text"  # opaque: compared as given
    DECIMAL = "decimal"  # a decimal number
    HEX = "hex"  # a hexadecimal number (some SMSCs answer hex and report decimal, or the reverse)


def normalise_message_id(value: str, form: IdFormat) -> str:
    """The ID as comparable text: numbers become canonical decimal; never raises."""
    stripped = value.strip(_PADDING)
    if form == IdFormat.TEXT:
        return stripped
    digits, base, allowed = stripped, 10, string.digits
    if form == IdFormat.HEX:
        digits = stripped[2:] if stripped[:2].lower() == "0x" else stripped
        base, allowed = 16, string.hexdigits
    if not digits or len(digits) > _MAX_NUMERIC_ID or not set(digits) <= set(allowed):
        return stripped.lower()
    return str(int(digits, base))


def map_receipt_state(
    stat: str | None, message_state: int | None, err: str | None
) -> tuple[ReceiptStatus, str] | None:
    """deliveredToPhone and the deliveryError word; None while not final (or not understood)."""
    word = _STATE_WORDS.get(message_state) if message_state is not None else None
    if word is None:
        word = (stat or "").strip().upper()
        word = _STATE_SPELLINGS.get(word, word)
    final = _FINAL_STATES.get(word)
    if final is None:
        return None
    status, error = final
    code = (err or "").strip()
    if word == "UNDELIV" and code.isascii() and code.isdigit() and len(code) < 10:
        error = _MAP_ERRORS.get(int(code), error)
    return status, error


@frozen_record(slots=True)
class ParsedReceipt:
    """What a delivery receipt says about one submitted part."""

    operator_message_id: str
    status: ReceiptStatus
    delivery_error: str
    # False for ENROUTE, ACCEPTD and states we do not know: the caller ignores those.
    is_final: bool
    # The state word used (from message_state when present, else stat), for logs.
    state: str
    done_at: datetime | None
    err: str = ""


def is_receipt_type(esm_class: int) -> bool:
    """Whether a deliver_sm with this esm_class reports on a sent message (not a handset's text)."""
    return esm_class & ESM_CLASS_TYPE_MASK in RECEIPT_TYPES


def read_receipt(
    esm_class: int,
    short_message: bytes,
    tlvs: Mapping[int, bytes],
    id_form: IdFormat,
    tlv_id_form: IdFormat | None = None,
) -> ParsedReceipt | None:
    """The receipt in a deliver_sm; None when it is not one or names no message or state.

    `id_form` is how the text writes the ID; `tlv_id_form` how receipted_message_id does (by
    the spec the submit_sm_resp's form), `id_form` when not given.
    """
    if not is_receipt_type(esm_class):
        return None
    fields = read_receipt_fields(short_message.decode("latin-1"))
    receipted = tlvs.get(TAG_RECEIPTED_MESSAGE_ID, b"").split(b"\x00", 1)[0].decode("latin-1")
    if receipted.strip(_PADDING):
        message_id = normalise_message_id(receipted, tlv_id_form or id_form)
    else:
        message_id = normalise_message_id(fields.get("id", ""), id_form)
    state_octets = tlvs.get(TAG_MESSAGE_STATE, b"")
    message_state = int.from_bytes(state_octets, "big") if 1 <= len(state_octets) <= 4 else None
    stat = fields.get("stat")
    if not message_id or (message_state not in _STATE_WORDS and not stat):
        return None
    err = fields.get("err", "")
    mapped = map_receipt_state(stat, message_state, err)
    status, error = mapped or (ReceiptStatus.UNKNOWN, "")
    state = _STATE_WORDS.get(message_state or 0) or (stat or "").upper()
    done_at = parse_receipt_date(fields.get("done_date", ""))
    return ParsedReceipt(message_id, status, error, mapped is not None, state, done_at, err)


# A busy bind's receipts carry the same few minutes' dates: each is read once.
@lru_cache(maxsize=256)
def parse_receipt_date(text: str) -> datetime | None:
    """YYMMDDhhmm or YYMMDDhhmmss as UTC (the SMSC's zone is unknown), else None."""
    if not (text.isascii() and text.isdigit() and len(text) in (10, 12)):
        return None
    second = int(text[10:]) if text[10:] else 0
    try:
        return datetime(
            2000 + int(text[0:2]),
            int(text[2:4]),
            int(text[4:6]),
            int(text[6:8]),
            int(text[8:10]),
            second,
            tzinfo=UTC,
        )
    except ValueError:
        return None


def decode_short_message(data_coding: int, payload: bytes) -> str:
    """The text of an inbound payload by its data_coding; never raises."""
    alphabet = _choose_alphabet(data_coding)
    if alphabet == "gsm7":
        try:
            return decode_gsm7_unpacked(payload)
        except ValueError:
            # Some SMSCs send Latin-1 under data_coding 0: a byte above 0x7F cannot be a septet.
            return payload.decode("latin-1")
    if alphabet == "ucs2":
        return decode_ucs2(payload)
    return payload.decode(alphabet, "replace")


# SMPP 3.4 5.2.19 values 0x00-0x0F that name a character set (0x00 and 0x08 are handled apart).
_SMPP_CHARSETS = {
    0x01: "latin-1",  # IA5/ASCII; Latin-1 shows a stray 8th bit instead of failing
    0x06: "iso8859_5",
    0x07: "iso8859_8",
    0x0A: "iso2022_jp",
    0x0E: "euc_kr",
}


def _choose_alphabet(data_coding: int) -> str:
    """The alphabet of a data_coding: gsm7, ucs2 or a Python codec (Latin-1 when in doubt)."""
    if data_coding == 0x00:
        return "gsm7"
    if data_coding == 0x08:
        return "ucs2"
    if 0x01 <= data_coding <= 0x0F:
        return _SMPP_CHARSETS.get(data_coding, "latin-1")
    if 0x10 <= data_coding <= 0x7F:
        # 3GPP 23.038 general and auto-deletion groups: bits 3-2 are the alphabet; we do not
        # decompress (bit 5), so compressed text is shown as its bytes.
        alphabet = (data_coding >> 2) & 0x03
        if data_coding & 0x20 or alphabet not in (0, 2):
            return "latin-1"
        return "gsm7" if alphabet == 0 else "ucs2"
    if 0xC0 <= data_coding <= 0xDF:
        return "gsm7"  # message waiting indication, GSM-7 text
    if 0xE0 <= data_coding <= 0xEF:
        return "ucs2"  # message waiting indication, UCS-2 text
    if 0xF0 <= data_coding <= 0xFF:
        return "latin-1" if data_coding & 0x04 else "gsm7"  # message class group: bit 2 is 8-bit
    return "latin-1"


@dataclass(frozen=True, slots=True)
class ConcatInfo:
    """Which part of which concatenated message a payload is."""

    reference: int
    total: int
    seq: int


def split_user_data_header(payload: bytes) -> tuple[ConcatInfo | None, bytes]:
    """The concatenation IE of a UDHI payload, and the payload without its header.

    A header longer than the payload leaves the payload unchanged (we cannot tell where the text
    starts); a header that fits is always dropped, and IEs inside it that are cut short, or a
    part number outside 1..total, give None: the text is passed on as a message of its own.
    """
    if not payload or 1 + payload[0] > len(payload):
        return None, payload
    header, body = payload[1 : 1 + payload[0]], payload[1 + payload[0] :]
    found: ConcatInfo | None = None
    at = 0
    while at + 2 <= len(header):
        iei, length = header[at], header[at + 1]
        data = header[at + 2 : at + 2 + length]
        if len(data) < length:
            break
        at += 2 + length
        # 3GPP 23.040 9.2.3.24: of repeated IEs, the last counts.
        if iei == IEI_CONCAT_8BIT and length == 3:
            found = ConcatInfo(data[0], data[1], data[2])
        elif iei == IEI_CONCAT_16BIT and length == 4:
            found = ConcatInfo(int.from_bytes(data[:2], "big"), data[2], data[3])
    return _check_concat(found), body


def concat_from_sar(tlvs: Mapping[int, bytes]) -> ConcatInfo | None:
    """The concatenation that the sar_* optional parameters describe, if all three are sound."""
    reference = tlvs.get(TAG_SAR_MSG_REF_NUM, b"")
    total = tlvs.get(TAG_SAR_TOTAL_SEGMENTS, b"")
    seq = tlvs.get(TAG_SAR_SEGMENT_SEQNUM, b"")
    if not 1 <= len(reference) <= 2 or len(total) != 1 or len(seq) != 1:
        return None
    return _check_concat(ConcatInfo(int.from_bytes(reference, "big"), total[0], seq[0]))


def _check_concat(info: ConcatInfo | None) -> ConcatInfo | None:
    """The info when its part number is within 1..total, else None."""
    return info if info is not None and 1 <= info.seq <= info.total else None
