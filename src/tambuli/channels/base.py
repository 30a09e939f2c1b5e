"""What every channel is: the protocol the delivery worker speaks, and the shapes it passes.

A channel hands messages to an operator and reports back what the operator said; receipts and
inbound SMS arrive later, through the ChannelEvents sink the channel is started with. Channels
know nothing of the database: what they must remember across restarts goes through the
sink or a journal they are given.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from tambuli.records import frozen_record

# Octets of the standard concatenation header (a UDH with an 8-bit reference, its length octet
# included); messages are counted and billed in parts cut for it.
STANDARD_PART_HEADER_OCTETS = 6


class Outcome(StrEnum):
    """What an operator answered to a hand-off."""

    ACCEPTED = "accepted"  # the operator took the message; a receipt may follow
    TRANSIENT = "transient"  # refused for now (throttled, down, timeout): try again later
    PERMANENT = "permanent"  # refused for good (no route, barred): do not try again


class ReceiptStatus(StrEnum):
    """deliveredToPhone as engageSPARK reports it."""

    UNKNOWN = "unknown"  # no receipt yet (or none will ever come)
    CONFIRMED = "confirmed"  # the operator says the handset got it
    FAILED = "failed"  # the operator says it could not be delivered


@frozen_record
class OutboundSms:
    """One message to hand to an operator."""

    message_id: int
    sender: str
    recipient: str
    body: str
    parts: tuple[str, ...]
    encoding: str
    attempt: int
    # The sender's SMPP type of number and numbering plan when a route's rule sets them.
    sender_ton: int | None = None
    sender_npi: int | None = None


class LinkState(StrEnum):
    """Whether a channel can take traffic now."""

    UP = "up"  # connected (bound, for SMPP) and answering
    CONNECTING = "connecting"  # (re)connecting or binding; traffic waits or fails over
    DOWN = "down"  # not connected; the last attempt failed
    STOPPED = "stopped"  # closed on shutdown


@dataclass(frozen=True)
class ChannelHealth:
    """What `tambuli channels list` and GET /v1/status show of a channel."""

    name: str
    kind: str
    state: LinkState
    parts_per_second: float
    window: int = 0
    in_flight: int = 0
    # Since the process started.
    parts_sent: int = 0
    parts_refused: int = 0
    throttled: int = 0
    reconnects: int = 0
    last_error: str = ""


@frozen_record
class HandOff:
    """The operator's answer for one message."""

    message_id: int
    outcome: Outcome
    operator_message_id: str = ""
    # For refusals: the engageSPARK `error` text (e.g. "no route").
    error: str = ""
    accepted_parts: int = 0


@frozen_record
class Receipt:
    """A delivery receipt from an operator."""

    channel: str
    operator_message_id: str
    status: ReceiptStatus
    # The spec's deliveryError word for failures ("unreachable", "expired", …).
    delivery_error: str
    delivered_parts: int
    at: datetime


@dataclass(frozen=True)
class InboundSms:
    """A message a handset sent to one of the organization's sender IDs."""

    channel: str
    sender: str
    recipient: str
    body: str
    at: datetime
    # The operator's ID for this message, so one delivered twice is stored once.
    operator_event_id: str = ""


class ChannelEvents(Protocol):
    """Where a channel reports what operators send back; recording must be idempotent."""

    async def record_receipts(self, receipts: Sequence[Receipt]) -> set[str]:
        """Store delivery receipts; the operator message IDs that match no message yet.

        A receipt can overtake the record of its hand-off: it is stored all the same and
        applied when that record lands, so the channel acknowledges every receipt at once.
        """
        ...

    async def record_inbound(self, messages: Sequence[InboundSms]) -> None:
        """Store inbound SMS."""
        ...


class Channel(Protocol):
    """A way to reach operators."""

    name: str
    # Explicit throughput limit in SMS parts per second (0: unlimited).
    parts_per_second: float
    # True when the channel holds itself to parts_per_second part by part; otherwise the
    # Dispatcher holds it to the limit batch by batch. Both at once would halve the rate.
    paces_itself: bool
    # Octets of concatenation header each part of a multipart message carries: the Dispatcher
    # cuts parts that leave this much room (STANDARD_PART_HEADER_OCTETS unless a channel's
    # header is longer).
    part_header_octets: int

    @property
    def events_waiting(self) -> asyncio.Event | None:
        """Set when receipts or inbound SMS are waiting, so the worker polls at once; None
        for a channel whose events are only found by polling on the interval."""
        ...

    async def submit(self, messages: Sequence[OutboundSms]) -> list[HandOff]:
        """Hand messages to the operator; one HandOff per message, in the same order."""
        ...

    async def poll_events(self, events: ChannelEvents) -> int:
        """Deliver whatever receipts and inbound SMS are due; returns how many."""
        ...

    async def open(self) -> None:
        """Start connecting (a no-op for channels without a connection)."""
        ...

    async def close(self) -> None:
        """Stop: unbind, disconnect, and answer nothing more."""
        ...

    def read_health(self) -> ChannelHealth:
        """The channel's state and counters now."""
        ...

    def read_state(self) -> LinkState:
        """The state of read_health alone: routing asks it for every message."""
        ...
