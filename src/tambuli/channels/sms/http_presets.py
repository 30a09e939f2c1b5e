"""Known HTTP SMS gateways: default config keys, and how to read their answers and callbacks.

One preset so far, "vonage": the Vonage (formerly Nexmo) SMS API, POST
https://rest.nexmo.com/sms/json with a form body. Its answer lists one entry per SMS part, each
with a `status` (0 is success) and a `message-id`; delivery receipts (one per part) and inbound
SMS arrive as webhooks, by GET query or POST form/JSON. docs/http_gateway.md has the tables.

Channels without a preset use the generic callback fields: receipts `message_id`, `status`,
`error`; inbound `from`, `to`, `text`, `id`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from tambuli.channels.base import InboundSms, OutboundSms, Outcome, Receipt, ReceiptStatus
from tambuli.channels.multipart import InboundAssembler

VONAGE_PRESET = "vonage"
VONAGE_URL = "https://rest.nexmo.com/sms/json"
# The parts of a concatenated inbound SMS wait this long for their siblings; then what came is
# recorded as it is, so a lost part never swallows the others.
INBOUND_PART_PATIENCE = timedelta(minutes=5)
MAX_WAITING_INBOUND = 10_000
_ERROR_LIMIT = 200


class UnreadableCallback(ValueError):
    """A callback payload that lacks what its gateway always sends."""


@dataclass(frozen=True)
class SendAnswer:
    """What a gateway's 2xx answer says about one message."""

    outcome: Outcome
    operator_message_id: str = ""
    # Parts the gateway says it took; 0 when it does not say.
    parts: int = 0
    error: str = ""


@dataclass(frozen=True)
class InboundPart:
    """One webhook's worth of inbound SMS: a whole message, or one part of a long one."""

    sms: InboundSms
    # For parts: the sender's concatenation reference, how many parts, and which this is.
    concat_ref: str = ""
    total: int = 1
    index: int = 1


Fields = Mapping[str, str]


@dataclass(frozen=True)
class GatewayPreset:
    """Everything Tambuli knows about one gateway beyond the generic HTTP channel."""

    name: str
    # kind = "http" config keys the channel table may leave out (its own keys win).
    defaults: Mapping[str, object]
    # Request fields that depend on the message (not expressible as templates).
    add_fields: Callable[[OutboundSms], Fields]
    # Reads a 2xx JSON answer; raises ValueError (or KeyError, TypeError) when unreadable.
    read_answer: Callable[[Any], SendAnswer]
    # A receipt from one callback payload; None for statuses that are not final.
    read_receipt: Callable[[str, Fields, datetime], Receipt | None]
    read_inbound: Callable[[str, Fields, datetime], InboundPart | None]


def read_generic_receipt(channel: str, fields: Fields, now: datetime) -> Receipt | None:
    """A receipt in the generic callback format: message_id, status, error."""
    operator_id = _required(fields, "message_id")
    status = fields.get("status", "").strip().lower()
    if status == "delivered":
        return Receipt(channel, operator_id, ReceiptStatus.CONFIRMED, "", 1, now)
    if status in ("failed", "rejected", "undeliverable", "expired"):
        error = "expired" if status == "expired" else fields.get("error", "").strip().lower()
        return Receipt(channel, operator_id, ReceiptStatus.FAILED, _spec_word(error), 0, now)
    return None


def read_generic_inbound(channel: str, fields: Fields, now: datetime) -> InboundPart | None:
    """An inbound SMS in the generic callback format: from, to, text, id."""
    sms = InboundSms(
        channel=channel,
        sender=_digits(_required(fields, "from")),
        recipient=_sender_id(_required(fields, "to")),
        body=fields.get("text", ""),
        at=now,
        operator_event_id=fields.get("id", ""),
    )
    return InboundPart(sms)


def add_vonage_fields(message: OutboundSms) -> Fields:
    """Vonage's `type`: "unicode" for UCS-2 messages, else "text"."""
    return {"type": "unicode" if message.encoding == "ucs2" else "text"}


# Vonage SMS API `status` codes that are worth trying again; every other non-zero one is final.
# Account problems (credentials, credit, suspension) are transient: the messages wait while
# someone fixes the account, instead of failing by the thousand.
_VONAGE_TRANSIENT = {
    "1": "throttled",
    "4": "invalid credentials",
    "5": "gateway internal error",
    "8": "gateway account barred",
    "9": "gateway account out of credit",
    "10": "too many binds",
    "11": "account not enabled for HTTP",
    "14": "invalid signature",
    "32": "signature and API secret disallowed",
}
_VONAGE_PERMANENT = {
    "2": "missing parameters",
    "3": "invalid parameters",
    "6": "no route",
    "7": "number barred",
    "12": "message too long",
    "15": "invalid sender address",
    "16": "invalid TTL",
    "19": "facility not allowed",
    "20": "invalid message class",
    "22": "invalid network code",
    "23": "invalid callback URL",
    "29": "non-whitelisted destination",
    "33": "number de-activated",
}


def read_vonage_answer(body: Any) -> SendAnswer:
    """One send answer: ACCEPTED if any part has status 0, else the first part's refusal."""
    entries = body["messages"]
    if not isinstance(entries, list) or not entries:
        raise ValueError("no messages in the answer")
    accepted = [e for e in entries if str(e.get("status", "")).strip() == "0"]
    if accepted:
        # The first part's ID is the message's: receipts of later parts carry their own IDs.
        operator_id = str(accepted[0].get("message-id") or "")
        if not operator_id:
            raise ValueError("an accepted part without a message-id")
        return SendAnswer(Outcome.ACCEPTED, operator_id, parts=len(accepted))
    status = str(entries[0].get("status", "")).strip()
    detail = str(entries[0].get("error-text") or "")
    if status in _VONAGE_PERMANENT:
        return SendAnswer(Outcome.PERMANENT, error=_short(_VONAGE_PERMANENT[status], detail))
    label = _VONAGE_TRANSIENT.get(status, f"gateway status {status or '?'}")
    return SendAnswer(Outcome.TRANSIENT, error=_short(label, detail))


# Vonage receipt `err-code` → the spec's deliveryError word.
_VONAGE_RECEIPT_ERRORS = {
    "1": "unknown",
    "2": "contact absent - temporary",
    "3": "contact absent - permanent",
    "4": "blocked",
    "5": "no route",
    "6": "anti-spam filter",
    "7": "contact phone issue",
    "8": "network error",
    "9": "opted out of promotional messaging",
    "10": "message error",
    "11": "no route",
    "12": "unreachable",
    "13": "blocked",
    "14": "blocked",
    "15": "contact error",
    "16": "network error",
    "50": "blocked",
    "51": "blocked",
    "52": "anti-spam filter",
    "53": "blocked",
    "54": "blocked",
    "99": "unknown",
}


def read_vonage_receipt(channel: str, fields: Fields, now: datetime) -> Receipt | None:
    """A Vonage delivery receipt; None for accepted, buffered and unknown (not final)."""
    operator_id = _required(fields, "messageId")
    status = _required(fields, "status").lower()
    at = _read_vonage_time(fields.get("message-timestamp", ""), now)
    if status == "delivered":
        return Receipt(channel, operator_id, ReceiptStatus.CONFIRMED, "", 1, at)
    if status == "expired":
        return Receipt(channel, operator_id, ReceiptStatus.FAILED, "expired", 0, at)
    if status in ("failed", "rejected"):
        error = _VONAGE_RECEIPT_ERRORS.get(fields.get("err-code", "").strip(), "unknown")
        return Receipt(channel, operator_id, ReceiptStatus.FAILED, error, 0, at)
    return None


def read_vonage_inbound(channel: str, fields: Fields, now: datetime) -> InboundPart | None:
    """A Vonage inbound SMS (or one part of it); None for binary messages (no text)."""
    if fields.get("type", "text") == "binary":
        return None
    sms = InboundSms(
        channel=channel,
        sender=_digits(_required(fields, "msisdn")),
        recipient=_sender_id(_required(fields, "to")),
        body=fields.get("text", ""),
        at=_read_vonage_time(fields.get("message-timestamp", ""), now),
        operator_event_id=_required(fields, "messageId"),
    )
    if fields.get("concat", "").lower() != "true":
        return InboundPart(sms)
    try:
        total, index = int(fields["concat-total"]), int(fields["concat-part"])
    except (KeyError, ValueError):
        raise UnreadableCallback("concat-total and concat-part must be numbers") from None
    if not 1 <= index <= total <= 255:
        raise UnreadableCallback("concat-part must be from 1 to concat-total (at most 255)")
    return InboundPart(sms, _required(fields, "concat-ref"), total, index)


VONAGE = GatewayPreset(
    name=VONAGE_PRESET,
    defaults=MappingProxyType(
        {
            "url": VONAGE_URL,
            "method": "POST",
            "body_format": "form",
            "fields": {
                "from": "{from}",
                "to": "{to}",
                "text": "{text}",
                "client-ref": "{reference}",
                "status-report-req": "1",
            },
            "message_id_field": "messages.0.message-id",
            # Vonage answers 200 with per-part statuses; an HTTP error means it did not look.
            "permanent_statuses": [],
        }
    ),
    add_fields=add_vonage_fields,
    read_answer=read_vonage_answer,
    read_receipt=read_vonage_receipt,
    read_inbound=read_vonage_inbound,
)
GATEWAY_PRESETS: Mapping[str, GatewayPreset] = MappingProxyType({VONAGE.name: VONAGE})
# What load_channel_config(http_presets=...) takes.
PRESET_DEFAULTS: Mapping[str, Mapping[str, object]] = MappingProxyType(
    {name: preset.defaults for name, preset in GATEWAY_PRESETS.items()}
)


def find_preset(name: str | None) -> GatewayPreset | None:
    """The preset of this name; None for generic channels (and names no preset has)."""
    return None if name is None else GATEWAY_PRESETS.get(name)


def read_receipt(preset: str | None, channel: str, fields: Fields, now: datetime) -> Receipt | None:
    """A receipt in the callback format of a channel's preset (generic without one)."""
    found = find_preset(preset)
    return (found.read_receipt if found else read_generic_receipt)(channel, fields, now)


def read_inbound(
    preset: str | None, channel: str, fields: Fields, now: datetime
) -> InboundPart | None:
    """An inbound SMS (or part) in the callback format of a channel's preset."""
    found = find_preset(preset)
    return (found.read_inbound if found else read_generic_inbound)(channel, fields, now)


# (channel, sender, recipient, the sender's concatenation reference): one message's parts.
GatewayPartKey = tuple[str, str, str, str]
GatewayAssembler = InboundAssembler[GatewayPartKey, InboundSms]


def new_gateway_assembler() -> GatewayAssembler:
    """An empty buffer for the parts gateways deliver one webhook each."""
    # Parts live in this process only: the wait is short, and what came is recorded after it.
    return InboundAssembler(join_inbound_parts, INBOUND_PART_PATIENCE, MAX_WAITING_INBOUND)


def add_inbound_parts(
    assembler: GatewayAssembler, parts: list[InboundPart], now: datetime
) -> list[InboundSms]:
    """The messages ready to record: whole ones, completed ones, and any overdue or pushed out."""
    ready = []
    for part in parts:
        key = (part.sms.channel, part.sms.sender, part.sms.recipient, part.concat_ref)
        whole = assembler.add(key, part.total, part.index, part.sms, now)
        if whole is not None:
            ready.append(whole)
    ready.extend(sms for _, sms in assembler.expire(now))
    return ready


def join_inbound_parts(ordered: list[InboundSms]) -> InboundSms:
    """One message from its parts, given in part order."""
    first = ordered[0]
    # The lowest part's ID names the whole message, so a replayed part is stored once.
    return InboundSms(
        channel=first.channel,
        sender=first.sender,
        recipient=first.recipient,
        body="".join(sms.body for sms in ordered),
        at=first.at,
        operator_event_id=first.operator_event_id,
    )


def _required(fields: Fields, name: str) -> str:
    value = fields.get(name, "").strip()
    if not value:
        raise UnreadableCallback(f'the field "{name}" is missing')
    return value


def _digits(number: str) -> str:
    return number.removeprefix("+")


def _sender_id(address: str) -> str:
    # Numeric sender IDs are stored as digits; alphanumeric ones as they are.
    digits = address.removeprefix("+")
    return digits if digits.isdigit() else address


def _read_vonage_time(text: str, now: datetime) -> datetime:
    # Vonage writes "2020-01-01 12:00:00" in UTC; without one, the time it reached us.
    try:
        return datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return now


_SPEC_WORDS = frozenset(
    {
        "anti-spam filter",
        "blocked",
        "contact absent",
        "contact absent - permanent",
        "contact absent - temporary",
        "contact error",
        "contact phone issue",
        "expired",
        "message error",
        "network error",
        "no route",
        "not mobile number",
        "opted out of promotional messaging",
        "unknown",
        "unreachable",
    }
)


def _spec_word(error: str) -> str:
    """The error if it is one of the spec's deliveryError words, else "unknown"."""
    return error if error in _SPEC_WORDS else "unknown"


def _short(label: str, detail: str) -> str:
    text = f"{label}: {detail}" if detail and detail.lower() != label else label
    return text[:_ERROR_LIMIT]
