"""The built-in simulated WhatsApp provider: behaviours by the recipient's last four digits.

| ends in | behaviour                                                               |
|---------|-------------------------------------------------------------------------|
| 0001    | refused permanently: the number is not on WhatsApp                      |
| 0002    | the first two hand-offs fail transiently, the third is accepted         |
| 0003    | accepted and sent; then failed                                          |
| 0004    | accepted and sent; nothing more ever comes                              |
| 0005    | accepted, sent and delivered, then the contact replies "YES"            |
| 0006    | every hand-off fails transiently                                        |
| 0008    | accepted, sent and delivered, then read a second after delivery         |
| other   | accepted, sent and delivered                                            |

Statuses and replies fall due on the clock (the SMS simulator's receipt delay after the hand-off)
and are reported by poll_events. What is owed is kept in a journal the simulator is given, as the
SMS simulator's is, so a restart forgets none of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from tambuli.channels.base import ChannelHealth, HandOff, LinkState, Outcome
from tambuli.channels.whatsapp.base import (
    InboundWhatsApp,
    OutboundWhatsApp,
    WhatsAppEvents,
    WhatsAppState,
    WhatsAppStatus,
)
from tambuli.clock import Clock

WHATSAPP_SIMULATOR = "simulator"
REPLY_TEXT = "YES"
NOT_ON_WHATSAPP = "recipient not on WhatsApp"
TRANSIENT_ERROR = "temporary failure (simulated)"
FAILED_ERROR = "message undeliverable"
READ_AFTER_DELIVERY = timedelta(seconds=1)


@dataclass(frozen=True)
class OwedEvent:
    """A status or a reply the simulated provider still owes, and when it falls due."""

    due_at: datetime
    status: WhatsAppStatus | None = None
    reply: InboundWhatsApp | None = None


@dataclass(frozen=True)
class DueOwedEvent:
    """An owed event claimed from the journal, by its entry's ID."""

    id: int
    event: OwedEvent


class OwedEventJournal(Protocol):
    """Durable memory of what the simulated WhatsApp provider owes."""

    async def record_owed(self, events: Sequence[OwedEvent]) -> None:
        """Remember events that fall due later."""
        ...

    async def claim_due(self, now: datetime, limit: int) -> list[DueOwedEvent]:
        """Claim the events due by now, oldest first, for a lease."""
        ...

    async def forget(self, ids: Sequence[int]) -> None:
        """Forget these entries: they were reported."""
        ...


def decide_outcome(recipient: str, attempt: int) -> tuple[Outcome, str]:
    """The simulated provider's answer to a hand-off: (outcome, error)."""
    ending = recipient[-4:]
    if ending == "0001":
        return Outcome.PERMANENT, NOT_ON_WHATSAPP
    if ending == "0006" or (ending == "0002" and attempt <= 2):
        return Outcome.TRANSIENT, TRANSIENT_ERROR
    return Outcome.ACCEPTED, ""


class WhatsAppSimulator:
    """A WhatsAppChannel that answers at once and reports statuses and replies later."""

    def __init__(
        self,
        journal: OwedEventJournal,
        clock: Clock,
        status_delay: timedelta,
        name: str = WHATSAPP_SIMULATOR,
        events_per_poll: int = 500,
    ) -> None:
        self.name = name
        self.messages_per_second = 0.0
        self._journal = journal
        self._clock = clock
        self._delay = status_delay
        self._events_per_poll = events_per_poll
        self._sent = 0
        self._refused = 0
        # Set when something falls due, so the events loop need not poll for it.
        self.events_waiting = asyncio.Event()

    async def open(self) -> None:
        """Nothing to connect to."""

    async def close(self) -> None:
        """Nothing to disconnect."""

    def read_state(self) -> LinkState:
        """Always up."""
        return LinkState.UP

    def read_health(self) -> ChannelHealth:
        """Always up; counts what it was handed."""
        return ChannelHealth(
            name=f"whatsapp {self.name}",
            # channel_status.kind holds 16 characters.
            kind="whatsapp",
            state=LinkState.UP,
            parts_per_second=self.messages_per_second,
            parts_sent=self._sent,
            parts_refused=self._refused,
        )

    def _status(self, wamid: str, state: WhatsAppState, at: datetime, error: str = "") -> OwedEvent:
        return OwedEvent(at, status=WhatsAppStatus(self.name, wamid, state, error, at))

    async def submit(self, messages: Sequence[OutboundWhatsApp]) -> list[HandOff]:
        """Answer each message as its number says, and owe its statuses."""
        now = self._clock.now()
        delivered_at = now + self._delay
        answers: list[HandOff] = []
        owed: list[OwedEvent] = []
        for message in messages:
            outcome, error = decide_outcome(message.recipient, message.attempt)
            if outcome != Outcome.ACCEPTED:
                self._refused += 1
                answers.append(HandOff(message.message_id, outcome, error=error))
                continue
            self._sent += 1
            wamid = f"wamid.sim-{message.message_id}-{message.attempt}"
            answers.append(HandOff(message.message_id, outcome, wamid, accepted_parts=1))
            owed.append(self._status(wamid, WhatsAppState.SENT, now))
            ending = message.recipient[-4:]
            if ending == "0003":
                owed.append(self._status(wamid, WhatsAppState.FAILED, delivered_at, FAILED_ERROR))
            elif ending != "0004":
                owed.append(self._status(wamid, WhatsAppState.DELIVERED, delivered_at))
            if ending == "0008":
                read_at = delivered_at + READ_AFTER_DELIVERY
                owed.append(self._status(wamid, WhatsAppState.READ, read_at))
            if ending == "0005":
                reply = InboundWhatsApp(
                    channel=self.name,
                    recipient=message.sender,
                    sender=message.recipient,
                    text=REPLY_TEXT,
                    at=delivered_at,
                    operator_event_id=f"{wamid}-reply",
                )
                owed.append(OwedEvent(delivered_at, reply=reply))
        # Remembered before the answers go back: what is owed for an accepted message is
        # never only in this process's memory.
        await self._journal.record_owed(owed)
        if owed:
            self._wake_after(timedelta(0))
            self._wake_after(self._delay)
            self._wake_after(self._delay + READ_AFTER_DELIVERY)
        return answers

    def _wake_after(self, delay: timedelta) -> None:
        # Real time, also under a fake clock: an early wake-up only makes the loop look once
        # more, and its poll interval still catches what a wake-up missed.
        asyncio.get_running_loop().call_later(
            max(0.0, delay.total_seconds()), self.events_waiting.set
        )

    async def poll_events(self, events: WhatsAppEvents) -> int:
        """Report the statuses and replies that are due."""
        due = await self._journal.claim_due(self._clock.now(), self._events_per_poll)
        if not due:
            return 0
        statuses = [d.event.status for d in due if d.event.status is not None]
        replies = [d.event.reply for d in due if d.event.reply is not None]
        # Recording is idempotent: if this fails, the claim's lease runs out and the same
        # events are reported again.
        if statuses:
            await events.record_statuses(statuses)
        if replies:
            await events.record_inbound(replies)
        await self._journal.forget([d.id for d in due])
        return len(due)
