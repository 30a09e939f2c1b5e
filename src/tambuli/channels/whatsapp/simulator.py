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
and are reported by poll_events. What is owed lives in this process: a restart forgets the
statuses of messages in flight, which a demonstration can live with.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

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


@dataclass(order=True)
class _Owed:
    due_at: datetime
    order: int
    status: WhatsAppStatus | None = field(compare=False, default=None)
    reply: InboundWhatsApp | None = field(compare=False, default=None)


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
        self, clock: Clock, status_delay: timedelta, name: str = WHATSAPP_SIMULATOR
    ) -> None:
        self.name = name
        self.messages_per_second = 0.0
        self._clock = clock
        self._delay = status_delay
        self._owed: list[_Owed] = []
        self._order = itertools.count()
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

    def _owe(
        self,
        at: datetime,
        status: WhatsAppStatus | None = None,
        reply: InboundWhatsApp | None = None,
    ) -> None:
        heapq.heappush(self._owed, _Owed(at, next(self._order), status, reply))

    def _status(self, wamid: str, state: WhatsAppState, at: datetime, error: str = "") -> None:
        self._owe(at, WhatsAppStatus(self.name, wamid, state, error, at))

    async def submit(self, messages: Sequence[OutboundWhatsApp]) -> list[HandOff]:
        """Answer each message as its number says, and owe its statuses."""
        now = self._clock.now()
        delivered_at = now + self._delay
        answers: list[HandOff] = []
        for message in messages:
            outcome, error = decide_outcome(message.recipient, message.attempt)
            if outcome != Outcome.ACCEPTED:
                self._refused += 1
                answers.append(HandOff(message.message_id, outcome, error=error))
                continue
            self._sent += 1
            wamid = f"wamid.sim-{message.message_id}-{message.attempt}"
            answers.append(HandOff(message.message_id, outcome, wamid, accepted_parts=1))
            self._status(wamid, WhatsAppState.SENT, now)
            ending = message.recipient[-4:]
            if ending == "0003":
                self._status(wamid, WhatsAppState.FAILED, delivered_at, FAILED_ERROR)
            elif ending != "0004":
                self._status(wamid, WhatsAppState.DELIVERED, delivered_at)
            if ending == "0008":
                self._status(wamid, WhatsAppState.READ, delivered_at + READ_AFTER_DELIVERY)
            if ending == "0005":
                reply = InboundWhatsApp(
                    channel=self.name,
                    recipient=message.sender,
                    sender=message.recipient,
                    text=REPLY_TEXT,
                    at=delivered_at,
                    operator_event_id=f"{wamid}-reply",
                )
                self._owe(delivered_at, reply=reply)
        if any(a.outcome == Outcome.ACCEPTED for a in answers):
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
        now = self._clock.now()
        due: list[_Owed] = []
        while self._owed and self._owed[0].due_at <= now:
            due.append(heapq.heappop(self._owed))
        if not due:
            return 0
        statuses = [d.status for d in due if d.status is not None]
        replies = [d.reply for d in due if d.reply is not None]
        try:
            if statuses:
                await events.record_statuses(statuses)
            if replies:
                await events.record_inbound(replies)
        except BaseException:
            for owed in due:  # not recorded: owed still, for the next poll
                heapq.heappush(self._owed, owed)
            raise
        return len(due)
