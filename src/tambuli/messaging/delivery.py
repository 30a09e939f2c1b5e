"""Handing queued messages to operators: claim a batch, pace, submit, record, settle, push."""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tambuli.billing import reservations as funds
from tambuli.channels.base import Channel, HandOff, OutboundSms, Outcome
from tambuli.channels.config.registry import Routed, Router
from tambuli.clock import Clock
from tambuli.db.engine import Database
from tambuli.messaging import queue_store
from tambuli.messaging.models import DeliveryError, next_pacing_slot
from tambuli.messaging.pushes import enqueue_message_pushes_within
from tambuli.messaging.queue_store import (
    Accepted,
    ClaimedMessage,
    Deferred,
    DispatchRecord,
    Failed,
    Retry,
)
from tambuli.messaging.receipts import apply_early_receipts_within, count_recorded_receipts
from tambuli.messaging.segments import segment_message
from tambuli.messaging.throughput import ThroughputLimiter
from tambuli.metrics import HANDOFFS
from tambuli.retries import RetryPolicy

log = logging.getLogger("tambuli.delivery")
EXPIRED_ERROR = "delivery deadline passed"


@dataclass(frozen=True)
class DeliveryRules:
    """How delivery behaves; all of it comes from Settings."""

    retry: RetryPolicy = RetryPolicy()  # noqa: RUF009  (frozen, shared safely)
    # A claimed message whose worker dies is taken over after this long.
    lease: timedelta = timedelta(seconds=60)
    batch_size: int = 100
    # At most this many hand-offs per recipient number in any rolling window.
    pacing_limit: int = 5
    pacing_window: timedelta = timedelta(minutes=1)


def count_success_parts(billed: int, sent: int, accepted: int) -> int:
    """Parts reported and charged for a message an operator took: those billed, less refusals.

    `accepted` 0 means the channel did not say: every part was taken. A channel whose header is
    longer than the standard one may send a part more than was billed; that part is never
    charged, but a refused part still counts against the billed ones.
    """
    refused = max(0, sent - (accepted or sent))
    return max(1, billed - refused)


@dataclass
class Dispatcher:
    """Moves due messages from the queue to channels; one per worker process.

    Several dispatch_once calls may run at once (the runner keeps two batches in flight, so
    that one is claimed and queued at its channel while another awaits its answers): claims
    never overlap, and pacing counts the hand-offs of batches not yet recorded.
    """

    db: Database
    clock: Clock
    route: Router
    rules: DeliveryRules = field(default_factory=DeliveryRules)
    random_unit: Callable[[], float] = random.random
    limiters: dict[str, ThroughputLimiter] = field(default_factory=dict)
    # Recipient -> times of this process's hand-offs whose record is not yet committed.
    _unrecorded_handoffs: dict[str, list[datetime]] = field(
        default_factory=dict, init=False, repr=False
    )

    async def dispatch_once(self) -> int:
        """Hand one batch of due messages to their channels; returns how many were claimed."""
        now = self.clock.now()
        lease_until = now + self.rules.lease
        async with self.db.write() as conn:
            claimed = await queue_store.claim_due_messages(
                conn,
                now,
                lease_until,
                self.rules.batch_size,
                skip_locked=not self.db.is_sqlite,
            )
        if not claimed:
            return 0
        expired = [m for m in claimed if m.deadline_at <= now]
        live = [m for m in claimed if m.deadline_at > now]
        to_send, deferred = await self._pace(live, now)
        try:
            await self._hand_off(to_send, expired, deferred, lease_until)
        finally:
            self._forget_handoffs(to_send, now)
        return len(claimed)

    async def _hand_off(
        self,
        to_send: list[ClaimedMessage],
        expired: list[ClaimedMessage],
        deferred: list[Deferred],
        lease_until: datetime,
    ) -> None:
        """Submit the paced messages to their channels and record every outcome."""
        # (message, channel name, answer, parts sent)
        answers: list[tuple[ClaimedMessage, str, HandOff, int]] = []
        by_channel: dict[str, tuple[Channel, list[tuple[ClaimedMessage, Routed]]]] = {}
        for message in to_send:
            routed = self.route(message.recipient, message.sender)
            if routed.channel is None:
                refusal = HandOff(message.id, Outcome.PERMANENT, error=routed.error)
                answers.append((message, "", refusal, 0))
                continue
            by_channel.setdefault(routed.channel.name, (routed.channel, []))[1].append(
                (message, routed)
            )
        for channel, batch in by_channel.values():
            handed = await self._submit(channel, batch)
            for (message, _), (answer, sent) in zip(batch, handed, strict=True):
                answers.append((message, channel.name, answer, sent))
        await self._record(lease_until, expired, deferred, answers)

    async def _pace(
        self, live: list[ClaimedMessage], now: datetime
    ) -> tuple[list[ClaimedMessage], list[Deferred]]:
        async with self.db.read() as conn:
            recent = await queue_store.select_recent_handoffs(
                conn, [m.recipient for m in live], now - self.rules.pacing_window
            )
        # Nothing awaits from here until the hand-offs are noted: a batch paced at the same
        # time sees them.
        unrecorded = self._unrecorded_handoffs
        histories = {
            m.recipient: recent.get(m.recipient, []) + unrecorded.get(m.recipient, []) for m in live
        }
        to_send: list[ClaimedMessage] = []
        deferred: list[Deferred] = []
        for message in live:
            history = histories[message.recipient]
            slot = next_pacing_slot(history, now, self.rules.pacing_limit, self.rules.pacing_window)
            if slot is None:
                to_send.append(message)
                history.append(now)
                unrecorded.setdefault(message.recipient, []).append(now)
            else:
                deferred.append(Deferred(message, min(slot, message.deadline_at)))
        return to_send, deferred

    def _forget_handoffs(self, sent: list[ClaimedMessage], at: datetime) -> None:
        """The batch's record is committed (or abandoned): its hand-offs count from the database."""
        unrecorded = self._unrecorded_handoffs
        for message in sent:
            times = unrecorded[message.recipient]
            times.remove(at)
            if not times:
                del unrecorded[message.recipient]

    async def _submit(
        self, channel: Channel, batch: list[tuple[ClaimedMessage, Routed]]
    ) -> list[tuple[HandOff, int]]:
        """Each message's answer and the number of parts it was sent as."""
        outbound = [
            OutboundSms(
                message_id=m.id,
                sender=routed.sender,
                recipient=m.recipient,
                body=m.body,
                parts=segment_message(m.body, channel.part_header_octets).parts,
                encoding=m.encoding,
                attempt=m.attempts + 1,
                sender_ton=routed.sender_ton,
                sender_npi=routed.sender_npi,
            )
            for m, routed in batch
        ]
        sent = [len(sms.parts) for sms in outbound]
        if not channel.paces_itself:
            limiter = self.limiters.get(channel.name)
            if limiter is None:
                limiter = self.limiters[channel.name] = ThroughputLimiter(channel.parts_per_second)
            await limiter.acquire(sum(sent))
        try:
            answers = await channel.submit(outbound)
        except Exception as exc:  # a channel fault must not lose the batch: retry it later
            log.exception("channel %s failed on a batch of %d", channel.name, len(batch))
            error = f"channel error: {type(exc).__name__}"
            answers = [HandOff(m.id, Outcome.TRANSIENT, error=error) for m, _ in batch]
        if len(answers) != len(batch):
            log.error("channel %s answered %d of %d", channel.name, len(answers), len(batch))
            answers = [HandOff(m.id, Outcome.TRANSIENT, error="channel error") for m, _ in batch]
        return list(zip(answers, sent, strict=True))

    async def _record(
        self,
        lease_until: datetime,
        expired: list[ClaimedMessage],
        deferred: list[Deferred],
        answers: list[tuple[ClaimedMessage, str, HandOff, int]],
    ) -> None:
        """Write every claimed message's outcome, with its funds, pushes and early receipts."""
        now = self.clock.now()
        records: list[DispatchRecord] = [
            Failed(m, "", m.error or EXPIRED_ERROR, DeliveryError.EXPIRED, attempted=False)
            for m in expired
        ]
        records += [self._judge(m, name, answer, sent, now) for m, name, answer, sent in answers]
        records += deferred
        async with self.db.write() as conn:
            mine = await queue_store.select_still_claimed(
                conn, [r.message.id for r in records], lease_until
            )
            records = [r for r in records if r.message.id in mine]
            await queue_store.record_dispatch(conn, now, records)
            await funds.settle_many_within(conn, self.clock, list(_settlements(records)))
            await funds.release_many_within(conn, self.clock, list(_releases(records)))
            await enqueue_message_pushes_within(conn, now, list(_push_events(records)))
            # Receipts that overtook this record were kept: they apply with it, after the
            # `accepted` pushes, as if they had come a moment later.
            early = await apply_early_receipts_within(conn, now, list(_operator_ids(records)))
        count_recorded_receipts(early)
        counted = Counter(
            (channel_name or "none", answer.outcome.value)
            for message, channel_name, answer, _ in answers
            if message.id in mine
        )
        for (channel_name, outcome), n in counted.items():
            HANDOFFS.labels(channel_name, outcome).inc(n)

    def _judge(
        self, message: ClaimedMessage, channel: str, answer: HandOff, sent: int, now: datetime
    ) -> Accepted | Retry | Failed:
        """What the channel's answer makes of the message: taken, tried again, or failed."""
        if answer.outcome == Outcome.ACCEPTED:
            parts = count_success_parts(message.parts, sent, answer.accepted_parts)
            charged = parts * message.price_per_part_micro
            return Accepted(message, channel, answer.operator_message_id, parts, charged)
        next_at = self.rules.retry.next_attempt(
            message.attempts + 1, now, self.random_unit(), give_up_at=message.deadline_at
        )
        if answer.outcome == Outcome.TRANSIENT:
            if next_at is not None:
                return Retry(message, channel, answer.error, next_at)
            # Refused for now, and no retry fits before its deadline.
            return Failed(message, channel, answer.error, DeliveryError.EXPIRED, attempted=True)
        return Failed(message, channel, answer.error, None, attempted=True)


def _settlements(records: list[DispatchRecord]) -> Iterator[tuple[int, int]]:
    """(reservation ID, amount charged) of each accepted message that reserved funds."""
    for r in records:
        if isinstance(r, Accepted) and r.message.reservation_id is not None:
            yield r.message.reservation_id, r.charged_micro


def _releases(records: list[DispatchRecord]) -> Iterator[int]:
    """The reservation IDs of the failed messages: their funds go back in full."""
    for r in records:
        if isinstance(r, Failed) and r.message.reservation_id is not None:
            yield r.message.reservation_id


def _push_events(records: list[DispatchRecord]) -> Iterator[tuple[int, str]]:
    """(message row ID, event) for the clientPushURL of each message accepted or failed."""
    for r in records:
        if r.message.client_push_url:
            if isinstance(r, Accepted):
                yield r.message.id, "accepted"
            elif isinstance(r, Failed):
                yield r.message.id, "failed"


def _operator_ids(records: list[DispatchRecord]) -> Iterator[tuple[str, str]]:
    """(channel, operator message ID) of each accepted message, to match early receipts."""
    for r in records:
        if isinstance(r, Accepted) and r.operator_message_id:
            yield r.channel, r.operator_message_id


async def count_queued_messages(db: Database, now: datetime) -> dict[str, int]:
    """Messages waiting for a hand-off, by state ("due", "later", "claimed")."""
    async with db.read() as conn:
        return await queue_store.count_queued_messages(conn, now)
