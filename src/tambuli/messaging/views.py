"""The shapes clients see of a message: the send answer and the stored record.

Both the API and the webhook pushes render from here, so a push body is exactly what
`GET …/messages/{id}/` returns (plus `event` for organizations that chose every event).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import msgspec

from tambuli.billing.models import format_usd_cents_down, format_usd_exact_or_cents
from tambuli.clock import format_utc_timestamp
from tambuli.messaging.models import Direction, MessageStatus, format_message_id
from tambuli.records import frozen_record

# The channel of UnhandledInbound items taken from the WhatsApp messages.
WHATSAPP_CHANNEL = "whatsapp"


@frozen_record
class StoredMessage:
    """A message row as the messaging service reads it."""

    id: int
    org_id: int
    direction: Direction
    contact_id: int | None
    sender: str
    recipient: str
    body: str
    encoding: str
    parts: int
    price_per_part_micro: int
    charged_micro: int
    client_ref: str
    client_dedup: str
    client_push_url: str
    status: MessageStatus
    receipt: str
    error: str
    delivery_error: str
    attempts: int
    deadline_at: datetime | None
    handed_at: datetime | None
    success_parts: int
    success_at: datetime | None
    created_at: datetime

    @property
    def message_id(self) -> str:
        """The engageSPARK-style message ID."""
        return format_message_id(self.created_at, self.org_id, self.id)


class NonGsmCharacterBody(msgspec.Struct):
    """A character that made the message UCS-2, and where it stands (0-based)."""

    position: int
    character: str


class SentSmsBody(msgspec.Struct, rename="camel"):
    """The answer to a send request (`schema_sms`), plus `encoding` and `nonGsmCharacters`."""

    message_id: str
    estimate_parts: int
    estimate_micro: int
    estimate: str
    delivery_deadline: str
    to: str
    message: str
    contact_id: int
    client_dedup: str
    client_push_url: str = msgspec.field(name="clientPushURL")
    client_ref: str = ""
    error: str = ""
    dedup_message_id: str = ""
    error_code: str | msgspec.UnsetType = msgspec.UNSET
    encoding: str = "gsm7"
    non_gsm_characters: list[NonGsmCharacterBody] = msgspec.field(default_factory=list)


class SmsRecordBody(msgspec.Struct, rename="camel"):
    """A stored message (`schema_model_sms`), plus `encoding` and `parts`."""

    id: str
    direction: str
    created: str
    sender: str
    recipient: str
    contact_id: int
    price_per_part: int
    done: bool
    success_part_count: int
    message: str
    error: str
    delivery_error: str
    delivered_to_telco: bool
    delivered_to_phone: str
    client_ref: str = msgspec.field(name="client_ref")
    charged_micro: int = 0
    charged_human: str = "0.00"
    success_t: str | msgspec.UnsetType = msgspec.field(name="successT", default=msgspec.UNSET)
    encoding: str = "gsm7"
    parts: int = 1


def render_record(message: StoredMessage) -> SmsRecordBody:
    """The API shape of a stored message."""
    return SmsRecordBody(
        id=message.message_id,
        direction=message.direction.value,
        created=format_utc_timestamp(message.created_at),
        sender=message.sender,
        recipient=message.recipient,
        contact_id=message.contact_id or 0,
        price_per_part=message.price_per_part_micro,
        done=message.status != MessageStatus.QUEUED,
        success_part_count=message.success_parts,
        message=message.body,
        error=message.error,
        delivery_error=message.delivery_error,
        delivered_to_telco=message.handed_at is not None
        and message.status == MessageStatus.ACCEPTED,
        delivered_to_phone=message.receipt,
        client_ref=message.client_ref,
        charged_micro=message.charged_micro,
        charged_human=format_usd_exact_or_cents(message.charged_micro),
        success_t=(
            msgspec.UNSET
            if message.success_at is None
            else format_utc_timestamp(message.success_at)
        ),
        encoding=message.encoding,
        parts=message.parts,
    )


def render_estimate(parts: int, price_per_part_micro: int) -> str:
    """The `estimate` field: the total in USD, rounded down to cents."""
    return format_usd_cents_down(parts * price_per_part_micro)


@dataclass(frozen=True)
class UnhandledInbound:
    """An inbound message the campaigns have not looked at yet."""

    id: int
    org_id: int
    sender: str
    body: str
    received_at: datetime
    # "sms", or WHATSAPP_CHANNEL for an inbound WhatsApp message (its id is of that table).
    channel: str = "sms"


@dataclass(frozen=True)
class RegisteredSender:
    """A sender ID the operator registered to one organization."""

    sender: str
    org_id: int
    created_at: datetime


@dataclass(frozen=True)
class UnmatchedInbound:
    """An inbound SMS kept for the operator: no single organization was its addressee."""

    id: int
    channel: str
    sender: str
    recipient: str
    body: str
    # The organizations that had an open conversation with the number (none, or several).
    candidates: tuple[int, ...]
    received_at: datetime
