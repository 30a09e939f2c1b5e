"""The built-in simulated telco: deterministic behaviours by the recipient's last four digits.

| ends in | behaviour                                                                     |
|---------|-------------------------------------------------------------------------------|
| 0001    | refused permanently: "no route"                                               |
| 0002    | the first two hand-offs fail transiently, the third is accepted and confirmed |
| 0003    | accepted; the receipt says failed, "unreachable"                              |
| 0004    | accepted; no receipt ever comes                                               |
| 0005    | accepted and confirmed, then the handset replies "YES"                        |
| 0006    | every hand-off fails transiently                                              |
| other   | accepted and confirmed                                                        |

What the simulated operator owes (receipts, replies) is kept in a journal the simulator is
given, so a restart loses none of it, and the journal is the inbox operators can read.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from tambuli.channels.base import (
    STANDARD_PART_HEADER_OCTETS,
    ChannelEvents,
    ChannelHealth,
    HandOff,
    InboundSms,
    LinkState,
    OutboundSms,
    Outcome,
    Receipt,
    ReceiptStatus,
)
from tambuli.clock import Clock

SIMULATOR_CHANNEL = "simulator"
# Receipts falling due within one slot of this many seconds wake the events loop once.
RECEIPT_WAKE_SLOT = 0.1
REPLY_TEXT = "YES"
TRANSIENT_ERROR = "temporary failure (simulated)"
NO_ROUTE_ERROR = "no route"


@dataclass(frozen=True)
class Submission:
    """What the simulated operator recorded about one hand-off."""

    operator_message_id: str
    message_id: int
    sender: str
    recipient: str
    body: str
    parts: int
    outcome: Outcome
    # The receipt still owed ("" when none will come) and when it is due.
    receipt: str
    receipt_due_at: datetime | None
    reply: str
    submitted_at: datetime


@dataclass(frozen=True)
class DueEvent:
    """A journal entry whose receipt (and reply) is due."""

    id: int
    submission: Submission


class SimulatorJournal(Protocol):
    """Durable memory of the simulated operator."""

    async def record_submissions(self, submissions: Sequence[Submission]) -> None:
        """Remember hand-offs (accepted or refused)."""
        ...

    async def due_events(self, now: datetime, limit: int) -> list[DueEvent]:
        """Claim the entries whose receipt is due, oldest first (for a lease)."""
        ...

    async def mark_events_sent(self, ids: Sequence[int]) -> None:
        """Forget the receipts of these entries: they were delivered."""
        ...


def decide_outcome(recipient: str, attempt: int) -> tuple[Outcome, str, str, str]:
    """The simulated operator's answer: (outcome, error, receipt owed, reply)."""
    ending = recipient[-4:]
    if ending == "0001":
        return Outcome.PERMANENT, NO_ROUTE_ERROR, "", ""
    if ending == "0006" or (ending == "0002" and attempt <= 2):
        return Outcome.TRANSIENT, TRANSIENT_ERROR, "", ""
    if ending == "0003":
        return Outcome.ACCEPTED, "", ReceiptStatus.FAILED.value, ""
    if ending == "0004":
        return Outcome.ACCEPTED, "", "", ""
    if ending == "0005":
        return Outcome.ACCEPTED, "", ReceiptStatus.CONFIRMED.value, REPLY_TEXT
    return Outcome.ACCEPTED, "", ReceiptStatus.CONFIRMED.value, ""


class SimulatorChannel:
    """A Channel that answers at once and sends receipts and replies after a delay."""

    paces_itself = False
    part_header_octets = STANDARD_PART_HEADER_OCTETS

    def __init__(
        self,
        journal: SimulatorJournal,
        clock: Clock,
        receipt_delay: timedelta,
        parts_per_second: float,
        name: str = SIMULATOR_CHANNEL,
        events_per_poll: int = 500,
    ) -> None:
        self.name = name
        self.parts_per_second = parts_per_second
        self._journal = journal
        self._clock = clock
        self._receipt_delay = receipt_delay
        self._events_per_poll = events_per_poll
        self._parts_sent = 0
        self._parts_refused = 0
        # Set when receipts fall due, so the events loop need not poll the journal for them.
        self.events_waiting = asyncio.Event()
        self._wake_slots: set[int] = set()

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
            name=self.name,
            kind="simulator",
            state=LinkState.UP,
            parts_per_second=self.parts_per_second,
            parts_sent=self._parts_sent,
            parts_refused=self._parts_refused,
        )

    async def submit(self, messages: Sequence[OutboundSms]) -> list[HandOff]:
        """Answer each message as its number says, and remember what is owed."""
        now = self._clock.now()
        submissions: list[Submission] = []
        answers: list[HandOff] = []
        for sms in messages:
            outcome, error, receipt, reply = decide_outcome(sms.recipient, sms.attempt)
            operator_id = f"sim-{sms.message_id}-{sms.attempt}"
            submissions.append(
                Submission(
                    operator_message_id=operator_id,
                    message_id=sms.message_id,
                    sender=sms.sender,
                    recipient=sms.recipient,
                    body=sms.body,
                    parts=len(sms.parts),
                    outcome=outcome,
                    receipt=receipt,
                    receipt_due_at=now + self._receipt_delay if receipt else None,
                    reply=reply,
                    submitted_at=now,
                )
            )
            accepted = outcome == Outcome.ACCEPTED
            answers.append(
                HandOff(
                    message_id=sms.message_id,
                    outcome=outcome,
                    operator_message_id=operator_id if accepted else "",
                    error=error,
                    accepted_parts=len(sms.parts) if accepted else 0,
                )
            )
        await self._journal.record_submissions(submissions)
        if any(a.outcome == Outcome.ACCEPTED for a in answers):
            self._wake_events_after(self._receipt_delay)
        for sms, answer in zip(messages, answers, strict=True):
            if answer.outcome == Outcome.ACCEPTED:
                self._parts_sent += len(sms.parts)
            else:
                self._parts_refused += len(sms.parts)
        return answers

    def _wake_events_after(self, delay: timedelta) -> None:
        # Real time, also under a fake clock: an early wake-up only makes the loop look once
        # more, and the poll interval still catches what a wake-up missed. Wake-ups are rounded
        # up to slots, so that under load the receipts of many hand-offs are recorded together.
        loop = asyncio.get_running_loop()
        slot = math.ceil((loop.time() + max(0.0, delay.total_seconds())) / RECEIPT_WAKE_SLOT)
        if slot in self._wake_slots:
            return
        self._wake_slots.add(slot)

        def wake() -> None:
            self._wake_slots.discard(slot)
            self.events_waiting.set()

        loop.call_at(slot * RECEIPT_WAKE_SLOT, wake)

    async def poll_events(self, events: ChannelEvents) -> int:
        """Send the receipts and replies that are due."""
        now = self._clock.now()
        due = await self._journal.due_events(now, self._events_per_poll)
        if not due:
            return 0
        receipts: list[Receipt] = []
        replies: list[InboundSms] = []
        for event in due:
            sub = event.submission
            at = now
            confirmed = sub.receipt == ReceiptStatus.CONFIRMED.value
            receipts.append(
                Receipt(
                    channel=self.name,
                    operator_message_id=sub.operator_message_id,
                    status=ReceiptStatus.CONFIRMED if confirmed else ReceiptStatus.FAILED,
                    delivery_error="" if confirmed else "unreachable",
                    delivered_parts=sub.parts if confirmed else 0,
                    at=at,
                )
            )
            if sub.reply:
                replies.append(
                    InboundSms(
                        channel=self.name,
                        sender=sub.recipient,
                        recipient=sub.sender,
                        body=sub.reply,
                        at=at,
                        operator_event_id=f"{sub.operator_message_id}-reply",
                    )
                )
        # A receipt that overtakes its hand-off's record is kept by record_receipts and
        # applied with that record: every one is sent once.
        await events.record_receipts(receipts)
        if replies:
            await events.record_inbound(replies)
        await self._journal.mark_events_sent([e.id for e in due])
        return len(due)
