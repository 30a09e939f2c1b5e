"""What every WhatsApp channel is: the protocol the WhatsApp delivery worker speaks, and its shapes.

A WhatsApp channel hands messages to the provider (Meta's Cloud API, or the simulator) and says
what the provider answered at once (`HandOff`, shared with SMS). Statuses (sent, delivered,
read, failed) and inbound messages come later, through a WhatsAppEvents sink: the simulator
calls it from `poll_events`; the Cloud API's webhooks reach it through the API's webhook route,
which turns the provider's body into these shapes with the channel's own parser.
Channels know nothing of the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from tambuli.channels.base import ChannelHealth, HandOff, LinkState
from tambuli.records import frozen_record


class MediaKind(StrEnum):
    """The kinds of media a WhatsApp message carries, as the Cloud API names them."""

    IMAGE = "image"
    AUDIO = "audio"
    VIDEO = "video"
    DOCUMENT = "document"


@dataclass(frozen=True)
class Media:
    """One uploaded file sent with a message."""

    kind: MediaKind
    filename: str
    content_type: str
    # SHA-1 of the bytes: a channel uploads the same file once per business number.
    sha1: str
    data: bytes


@dataclass(frozen=True)
class Template:
    """A template message: a name registered for the business number, its language, its values."""

    name: str
    language: str
    # The body's {{1}}, {{2}}, … in order.
    parameters: tuple[str, ...] = ()


@frozen_record
class OutboundWhatsApp:
    """One WhatsApp message to hand to the provider."""

    message_id: int
    # The business number's provider ID (the Cloud API's phone-number-id) and its number.
    phone_number_id: str
    sender: str
    # The recipient's number in international form without "+" (e.g. 639171234567).
    recipient: str
    # The free-form text; for a template message, empty or the caption of its media.
    text: str
    template: Template | None
    media: tuple[Media, ...]
    attempt: int


class WhatsAppState(StrEnum):
    """A status the provider reports for a message it accepted."""

    SENT = "sent"  # on its way to the handset
    DELIVERED = "delivered"  # the handset has it
    READ = "read"  # the recipient opened it
    FAILED = "failed"  # it could not be delivered


@frozen_record
class WhatsAppStatus:
    """A status update for one message, by the provider's message ID (a wamid)."""

    channel: str
    operator_message_id: str
    state: WhatsAppState
    # For FAILED: the provider's reason in a few words ("recipient not on WhatsApp", …).
    error: str
    at: datetime


@dataclass(frozen=True)
class Location:
    """A location a contact shared."""

    latitude: str
    longitude: str
    name: str = ""
    address: str = ""


@dataclass(frozen=True)
class InboundMedia:
    """A file a contact sent; its bytes already fetched from the provider."""

    kind: MediaKind
    filename: str
    content_type: str
    data: bytes
    caption: str = ""


@dataclass(frozen=True)
class InboundWhatsApp:
    """A message a contact sent to one of the organization's business numbers."""

    channel: str
    # The business number (international form without "+") the contact wrote to.
    recipient: str
    # The contact's number, international form without "+".
    sender: str
    text: str
    at: datetime
    # The provider's ID for this message, so one delivered twice is stored once.
    operator_event_id: str
    media: tuple[InboundMedia, ...] = ()
    location: Location | None = None
    # The contact's WhatsApp profile name, when the provider gives it.
    profile_name: str = ""


class WhatsAppEvents(Protocol):
    """Where a WhatsApp channel reports what the provider sends back; recording is idempotent."""

    async def record_statuses(self, statuses: Sequence[WhatsAppStatus]) -> None:
        """Store status updates; ones for unknown message IDs are kept until their message is."""
        ...

    async def record_inbound(self, messages: Sequence[InboundWhatsApp]) -> None:
        """Store inbound WhatsApp messages."""
        ...


class WhatsAppChannel(Protocol):
    """A way to reach WhatsApp users."""

    name: str
    # Messages per second the provider allows this channel (0: unlimited).
    messages_per_second: float

    async def submit(self, messages: Sequence[OutboundWhatsApp]) -> list[HandOff]:
        """Hand messages to the provider; one HandOff per message, in the same order.

        HandOff.operator_message_id is the provider's message ID; `accepted_parts` is 1.
        """
        ...

    async def poll_events(self, events: WhatsAppEvents) -> int:
        """Deliver whatever statuses and inbound messages are due; returns how many.

        The Cloud API pushes its events to the webhook route instead, so its channel returns 0.
        """
        ...

    async def open(self) -> None:
        """Get ready to send (a no-op for channels without a connection)."""
        ...

    async def close(self) -> None:
        """Stop: finish what is in flight and answer nothing more."""
        ...

    def read_health(self) -> ChannelHealth:
        """The channel's state and counters now."""
        ...

    def read_state(self) -> LinkState:
        """The state of read_health alone."""
        ...
