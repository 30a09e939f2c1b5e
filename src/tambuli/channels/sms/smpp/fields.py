"""SMPP 3.4 outbound fields: submit_sm payloads, concatenation (UDH or SAR) and command_status.

Pure: no I/O. The session code turns these values into PDUs; receipts.py reads what comes back.

How a command_status maps to what the channel does (docs/channels.md renders the same table):

- THROTTLED (ESME_RTHROTTLED, ESME_RMSGQFUL): the SMSC wants less traffic, not a different
  message; the caller slows the whole bind and retries the same PDUs in their order.
- TRANSIENT: the SMSC or the session is in trouble (system error, submit failed, bind and
  account errors, temporary application errors), or the answer is too vague to condemn the
  message (unknown, reserved and vendor-specific codes, ESME_RDELIVERYFAILURE). A wrong
  transient costs retries until the message's deadline; a wrong permanent fails a message that
  could have been delivered, and cannot be undone.
- PERMANENT: the SMSC refuses a field of this message (destination, source, length, esm_class,
  validity, optional parameters): a retry would send the same bytes and get the same answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from tambuli.alphabets import encode_gsm7_unpacked, encode_ucs2
from tambuli.channels.base import Outcome

DATA_CODING_GSM7 = 0
DATA_CODING_LATIN1 = 3
DATA_CODING_UCS2 = 8
ESM_CLASS_UDHI = 0x40

IEI_CONCAT_8BIT = 0x00
IEI_CONCAT_16BIT = 0x08
TAG_SAR_MSG_REF_NUM = 0x020C
TAG_SAR_TOTAL_SEGMENTS = 0x020E
TAG_SAR_SEGMENT_SEQNUM = 0x020F

MAX_PARTS = 255
# What one SMS carries over the air (GSM 03.40 TP-UD). A part plus its UDH must fit, or the SMSC
# refuses it or cuts it; with a 16-bit reference a part holds 152 septets or 66 units, not 153/67.
USER_DATA_OCTETS = 140


class Concatenation(StrEnum):
    """How the parts of a long message are tied together."""

    UDH8 = "udh8"  # user data header with an 8-bit reference (IEI 0x00)
    UDH16 = "udh16"  # user data header with a 16-bit reference (IEI 0x08)
    SAR = "sar"  # the sar_* optional parameters, no header in the payload


# Octets of each kind of user data header, its length octet included.
UDH_OCTETS = {Concatenation.UDH8: 6, Concatenation.UDH16: 7}


@dataclass(frozen=True, slots=True)
class SubmitPart:
    """The fields of one submit_sm that carry one part."""

    esm_class: int
    data_coding: int
    short_message: bytes
    # Optional parameters as (tag, value) in the order to send them.
    tlvs: tuple[tuple[int, bytes], ...] = ()


def build_submit_parts(
    parts: Sequence[str], encoding: str, concatenation: Concatenation, reference: int
) -> list[SubmitPart]:
    """The submit_sm fields for each part of one message, in order."""
    if not parts:
        raise ValueError("a message has at least one part")
    if len(parts) > MAX_PARTS:
        raise ValueError(f"{len(parts)} parts: concatenation counts at most {MAX_PARTS}")
    data_coding = choose_data_coding(encoding)
    total = len(parts)
    submits: list[SubmitPart] = []
    for seq, text in enumerate(parts, start=1):
        payload = encode_part(text, data_coding)
        if total == 1:
            check_user_data_fits(data_coding, b"", payload)
            submits.append(SubmitPart(0, data_coding, payload))
        elif concatenation == Concatenation.SAR:
            check_user_data_fits(data_coding, b"", payload)
            tlvs = build_sar_tlvs(reference, total, seq)
            submits.append(SubmitPart(0, data_coding, payload, tlvs))
        else:
            header = build_user_data_header(concatenation, reference, total, seq)
            check_user_data_fits(data_coding, header, payload)
            submits.append(SubmitPart(ESM_CLASS_UDHI, data_coding, header + payload))
    return submits


def choose_data_coding(encoding: str) -> int:
    """The data_coding for the messaging layer's encoding name ("gsm7" or "ucs2")."""
    if encoding == "gsm7":
        return DATA_CODING_GSM7
    if encoding == "ucs2":
        return DATA_CODING_UCS2
    raise ValueError(f"unknown encoding {encoding!r}")


def encode_part(text: str, data_coding: int) -> bytes:
    """The payload of one part: unpacked GSM-7 septets (what data_coding 0 means) or UTF-16BE."""
    if data_coding == DATA_CODING_GSM7:
        return encode_gsm7_unpacked(text)
    return encode_ucs2(text)


def build_user_data_header(
    concatenation: Concatenation, reference: int, total: int, seq: int
) -> bytes:
    """The concatenation UDH, its length octet included, for part `seq` of `total`."""
    if concatenation == Concatenation.UDH8:
        return bytes((5, IEI_CONCAT_8BIT, 3, reference % 256, total, seq))
    if concatenation == Concatenation.UDH16:
        high, low = (reference % 65536).to_bytes(2, "big")
        return bytes((6, IEI_CONCAT_16BIT, 4, high, low, total, seq))
    raise ValueError(f"{concatenation!r} does not use a user data header")


def build_sar_tlvs(reference: int, total: int, seq: int) -> tuple[tuple[int, bytes], ...]:
    """The sar_msg_ref_num, sar_total_segments and sar_segment_seqnum parameters of one part."""
    return (
        (TAG_SAR_MSG_REF_NUM, (reference % 65536).to_bytes(2, "big")),
        (TAG_SAR_TOTAL_SEGMENTS, bytes((total,))),
        (TAG_SAR_SEGMENT_SEQNUM, bytes((seq,))),
    )


def check_user_data_fits(data_coding: int, header: bytes, payload: bytes) -> None:
    """Raise ValueError when header and payload exceed one SMS once the SMSC packs them."""
    if data_coding == DATA_CODING_GSM7:
        # On the air septets are packed, and they start on a septet boundary after the header.
        septets = -(-len(header) * 8 // 7) + len(payload)
        octets = -(-septets * 7 // 8)
    else:
        octets = len(header) + len(payload)
    if octets > USER_DATA_OCTETS:
        raise ValueError(f"part needs {octets} octets of user data; one SMS holds 140")


class StatusKind(StrEnum):
    """What a command_status asks the channel to do."""

    OK = "ok"  # the SMSC took the PDU
    THROTTLED = "throttled"  # too fast: slow the whole bind, retry the same PDUs in order
    TRANSIENT = "transient"  # refused for now: try this message again later
    PERMANENT = "permanent"  # refused for good: the message fails


@dataclass(frozen=True, slots=True)
class StatusClass:
    """What one command_status means: its name, what to do, and the `error` text to store."""

    code: int
    name: str
    kind: StatusKind
    error: str

    @property
    def outcome(self) -> Outcome:
        """The hand-off outcome the delivery worker records."""
        if self.kind == StatusKind.OK:
            return Outcome.ACCEPTED
        if self.kind == StatusKind.PERMANENT:
            return Outcome.PERMANENT
        return Outcome.TRANSIENT


_OK = StatusKind.OK
_THROTTLED = StatusKind.THROTTLED
_TRANSIENT = StatusKind.TRANSIENT
_PERMANENT = StatusKind.PERMANENT

# code: (name, kind, what went wrong). The module docstring says why each kind is chosen.
COMMAND_STATUSES: dict[int, tuple[str, StatusKind, str]] = {
    0x00: ("ESME_ROK", _OK, ""),
    0x01: ("ESME_RINVMSGLEN", _PERMANENT, "invalid message length"),
    # Framing and command errors are about the session, not this message.
    0x02: ("ESME_RINVCMDLEN", _TRANSIENT, "invalid command length"),
    0x03: ("ESME_RINVCMDID", _TRANSIENT, "invalid command id"),
    0x04: ("ESME_RINVBNDSTS", _TRANSIENT, "incorrect bind status"),
    0x05: ("ESME_RALYBND", _TRANSIENT, "already bound"),
    0x06: ("ESME_RINVPRTFLG", _PERMANENT, "invalid priority flag"),
    0x07: ("ESME_RINVREGDLVFLG", _PERMANENT, "invalid registered delivery flag"),
    0x08: ("ESME_RSYSERR", _TRANSIENT, "SMSC system error"),
    0x0A: ("ESME_RINVSRCADR", _PERMANENT, "invalid source address"),
    0x0B: ("ESME_RINVDSTADR", _PERMANENT, "invalid destination address"),
    0x0C: ("ESME_RINVMSGID", _PERMANENT, "invalid message id"),
    # Account errors: fix the account and the queue carries on, as with top-up providers.
    0x0D: ("ESME_RBINDFAIL", _TRANSIENT, "bind failed"),
    0x0E: ("ESME_RINVPASWD", _TRANSIENT, "invalid password"),
    0x0F: ("ESME_RINVSYSID", _TRANSIENT, "invalid system id"),
    0x11: ("ESME_RCANCELFAIL", _PERMANENT, "cancel failed"),
    0x13: ("ESME_RREPLACEFAIL", _PERMANENT, "replace failed"),
    0x14: ("ESME_RMSGQFUL", _THROTTLED, "SMSC message queue full"),
    0x15: ("ESME_RINVSERTYP", _PERMANENT, "invalid service type"),
    0x33: ("ESME_RINVNUMDESTS", _PERMANENT, "invalid number of destinations"),
    0x34: ("ESME_RINVDLNAME", _PERMANENT, "invalid distribution list name"),
    0x40: ("ESME_RINVDESTFLAG", _PERMANENT, "invalid destination flag"),
    0x42: ("ESME_RINVSUBREP", _PERMANENT, "invalid submit with replace request"),
    0x43: ("ESME_RINVESMCLASS", _PERMANENT, "invalid esm_class"),
    0x44: ("ESME_RCNTSUBDL", _PERMANENT, "cannot submit to distribution list"),
    # The catch-all refusal; SMSCs use it for passing trouble (a full store, a busy HLR).
    0x45: ("ESME_RSUBMITFAIL", _TRANSIENT, "submit failed"),
    0x48: ("ESME_RINVSRCTON", _PERMANENT, "invalid source address TON"),
    0x49: ("ESME_RINVSRCNPI", _PERMANENT, "invalid source address NPI"),
    0x50: ("ESME_RINVDSTTON", _PERMANENT, "invalid destination address TON"),
    0x51: ("ESME_RINVDSTNPI", _PERMANENT, "invalid destination address NPI"),
    # system_type is a bind parameter: a session matter like the other bind errors.
    0x53: ("ESME_RINVSYSTYP", _TRANSIENT, "invalid system type"),
    0x54: ("ESME_RINVREPFLAG", _PERMANENT, "invalid replace_if_present flag"),
    0x55: ("ESME_RINVNUMMSGS", _PERMANENT, "invalid number of messages"),
    0x58: ("ESME_RTHROTTLED", _THROTTLED, "throttled by the SMSC"),
    0x61: ("ESME_RINVSCHED", _PERMANENT, "invalid scheduled delivery time"),
    0x62: ("ESME_RINVEXPIRY", _PERMANENT, "invalid validity period"),
    0x63: ("ESME_RINVDFTMSGID", _PERMANENT, "predefined message not found"),
    0x64: ("ESME_RX_T_APPN", _TRANSIENT, "temporary application error"),
    0x65: ("ESME_RX_P_APPN", _PERMANENT, "permanent application error"),
    0x66: ("ESME_RX_R_APPN", _PERMANENT, "message rejected by the application"),
    0x67: ("ESME_RQUERYFAIL", _TRANSIENT, "query failed"),
    0xC0: ("ESME_RINVOPTPARSTREAM", _PERMANENT, "invalid optional parameter stream"),
    0xC1: ("ESME_ROPTPARNOTALLWD", _PERMANENT, "optional parameter not allowed"),
    0xC2: ("ESME_RINVPARLEN", _PERMANENT, "invalid parameter length"),
    0xC3: ("ESME_RMISSINGOPTPARAM", _PERMANENT, "missing optional parameter"),
    0xC4: ("ESME_RINVOPTPARAMVAL", _PERMANENT, "invalid optional parameter value"),
    # Meant for data_sm_resp with delivery_failure_reason, which can be temporary; without it
    # we cannot tell, so the deadline bounds the retries.
    0xFE: ("ESME_RDELIVERYFAILURE", _TRANSIENT, "delivery failure"),
    0xFF: ("ESME_RUNKNOWNERR", _TRANSIENT, "unknown error"),
    # An SMPP 5.0 code that some 3.4 SMSCs answer too.
    0x104: ("ESME_RINVDCS", _PERMANENT, "invalid data coding"),
}

VENDOR_STATUSES = range(0x400, 0x500)


def classify_command_status(status: int) -> StatusClass:
    """What a submit_sm_resp (or any response) command_status means for the message."""
    known = COMMAND_STATUSES.get(status)
    if known is not None:
        name, kind, text = known
        return StatusClass(status, name, kind, f"{text} ({name})" if text else "")
    if status in VENDOR_STATUSES:
        return StatusClass(status, "", _TRANSIENT, f"vendor-specific error 0x{status:X}")
    return StatusClass(status, "", _TRANSIENT, f"unknown error 0x{status:X}")


def format_status_table() -> str:
    """COMMAND_STATUSES as a Markdown table, for docs/channels.md."""
    rows = ["| code | name | outcome | `error` |", "|---|---|---|---|"]
    for code in sorted(COMMAND_STATUSES):
        verdict = classify_command_status(code)
        error = f"`{verdict.error}`" if verdict.error else ""
        rows.append(f"| `0x{code:02X}` | `{verdict.name}` | {verdict.kind} | {error} |")
    rows.append("| `0x400`–`0x4FF` | vendor-specific | transient | `vendor-specific error 0x…` |")
    rows.append("| any other | reserved or unknown | transient | `unknown error 0x…` |")
    return "\n".join(rows) + "\n"
