"""The shapes clients see of a WhatsApp message: the send answer and the stored record.

The API and the clientPushURL pushes render from here, so a push body is exactly what
`GET …/whatsapp/{id}/` returns.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from tambuli.channels.whatsapp.base import MediaKind, WhatsAppState
from tambuli.clock import format_utc_timestamp
from tambuli.messaging.models import Direction, MessageStatus, format_message_id
from tambuli.records import frozen_record
from tambuli.whatsapp.models import MESSAGE_ID_PREFIX


@frozen_record
class StoredWhatsApp:
    """A WhatsApp message row as the WhatsApp service reads it."""

    id: int
    org_id: int
    direction: Direction
    contact_id: int | None
    sender: str
    recipient: str
    body: str
    # The expanded template ({"name", "language", "parameters", "body"}); None for free-form.
    content: dict[str, Any] | None
    location: dict[str, str] | None
    # (kind, filename) of each file it carries, in order.
    media: tuple[tuple[MediaKind, str], ...]
    price_micro: int
    charged_micro: int
    client_ref: str
    client_dedup: str
    client_push_url: str
    status: MessageStatus
    state: str
    error: str
    delivery_error: str
    attempts: int
    deadline_at: datetime | None
    handed_at: datetime | None
    sent_at: datetime | None
    delivered_at: datetime | None
    read_at: datetime | None
    failed_at: datetime | None
    created_at: datetime

    @property
    def message_id(self) -> str:
        """The engageSPARK-style message ID (`WA<stamp>-<orgId>-<sequence>`)."""
        return format_message_id(self.created_at, self.org_id, self.id, MESSAGE_ID_PREFIX)

    @property
    def shown_text(self) -> str:
        """The text as sent: the message, or a template message's expanded body."""
        if not self.body and self.content is not None:
            return str(self.content.get("body", ""))
        return self.body


class SentWhatsAppBody(msgspec.Struct, rename="camel", omit_defaults=True):
    """The answer to POST /v1/whatsapp/contact (also the body of a 409 for its clientDedup)."""

    message_id: str
    contact_id: int
    to: str
    message: str
    delivery_deadline: str
    content: dict[str, Any] | None = None
    client_dedup: str = ""
    client_ref: str = ""
    error: str = ""
    error_code: str = ""
    dedup_message_id: str = ""


class LocationBody(msgspec.Struct):
    """A location a contact shared."""

    latitude: str
    longitude: str
    address: str = ""
    label: str = ""


class WhatsAppRecordBody(msgspec.Struct, rename="camel"):
    """A stored WhatsApp message (`schema_model_whatsapp`)."""

    id: str
    direction: str
    created: str
    sender: str
    recipient: str
    contact_id: int
    done: bool
    read: bool
    message: str
    image_files: list[str]
    audio_files: list[str]
    video_files: list[str]
    document_files: list[str]
    full_file_paths: list[str]
    error: str
    delivery_error: str
    delivered_to_phone: str
    charged: int
    client_ref: str = msgspec.field(name="client_ref", default="")
    read_at: str | msgspec.UnsetType = msgspec.UNSET
    success_t: str | msgspec.UnsetType = msgspec.field(name="successT", default=msgspec.UNSET)
    location: LocationBody | msgspec.UnsetType = msgspec.UNSET
    content: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET


def render_sent(message: StoredWhatsApp) -> SentWhatsAppBody:
    """The send answer for a stored message."""
    return SentWhatsAppBody(
        message_id=message.message_id,
        contact_id=message.contact_id or 0,
        to=message.recipient,
        message=message.body,
        delivery_deadline=format_utc_timestamp(message.deadline_at or message.created_at),
        content=message.content,
        client_dedup=message.client_dedup,
        client_ref=message.client_ref,
    )


def _delivered_to_phone(message: StoredWhatsApp) -> str:
    if message.state in (WhatsAppState.DELIVERED, WhatsAppState.READ):
        return "confirmed"
    if message.state == WhatsAppState.FAILED:
        return "failed"
    return "unknown"


def render_record(message: StoredWhatsApp) -> WhatsAppRecordBody:
    """The API shape of a stored WhatsApp message."""
    files: dict[MediaKind, list[str]] = {kind: [] for kind in MediaKind}
    for kind, filename in message.media:
        files[kind].append(filename)
    location: LocationBody | msgspec.UnsetType = msgspec.UNSET
    if message.location is not None:
        location = LocationBody(
            latitude=message.location.get("latitude", ""),
            longitude=message.location.get("longitude", ""),
            address=message.location.get("address", ""),
            label=message.location.get("name", ""),
        )
    success_at = message.handed_at if message.direction == Direction.EGRESS else None
    return WhatsAppRecordBody(
        id=message.message_id,
        direction=message.direction.value,
        created=format_utc_timestamp(message.created_at),
        sender=message.sender,
        recipient=message.recipient,
        contact_id=message.contact_id or 0,
        done=message.status != MessageStatus.QUEUED,
        read=message.read_at is not None,
        message=message.shown_text,
        image_files=files[MediaKind.IMAGE],
        audio_files=files[MediaKind.AUDIO],
        video_files=files[MediaKind.VIDEO],
        document_files=files[MediaKind.DOCUMENT],
        full_file_paths=[
            f"/v1/organizations/{message.org_id}/files/{filename}" for _, filename in message.media
        ],
        error=message.error,
        delivery_error=message.delivery_error,
        delivered_to_phone=_delivered_to_phone(message),
        charged=message.charged_micro,
        client_ref=message.client_ref,
        read_at=msgspec.UNSET if message.read_at is None else format_utc_timestamp(message.read_at),
        success_t=msgspec.UNSET if success_at is None else format_utc_timestamp(success_at),
        location=location,
        content=msgspec.UNSET if message.content is None else message.content,
    )
