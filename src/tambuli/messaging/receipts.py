"""What operators send back: delivery receipts and inbound SMS, recorded in batches."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.channels.base import InboundSms, Receipt, ReceiptStatus
from tambuli.clock import Clock
from tambuli.db.engine import Database
from tambuli.messaging import early_receipt_store, inbound, queue_store, store
from tambuli.messaging.pushes import enqueue_message_pushes_within
from tambuli.messaging.views import UnhandledInbound
from tambuli.metrics import EARLY_RECEIPTS, RECEIPT_LATENCY, RECEIPTS

log = logging.getLogger("tambuli.receipts")
# How long a receipt that matches no recorded hand-off is kept. A hand-off is recorded within
# moments of the operator's answer; one still unrecorded after a day was lost with its
# worker and handed off again under another operator ID, so its receipt will never match.
EARLY_RECEIPT_KEEP = timedelta(hours=24)
# The widths of messages.channel and messages.operator_message_id.
MAX_CHANNEL_NAME = 50
MAX_OPERATOR_MESSAGE_ID = 100
# Kept receipts applied per pass of the sweep that catches the ones a hand-off's record missed.
EARLY_RECEIPT_SWEEP_BATCH = 500


@dataclass
class RecordedReceipts:
    """What recording a batch of receipts did, counted once its transaction commits."""

    # (channel, status, seconds from hand-off to receipt) of each receipt applied.
    applied: list[tuple[str, str, float | None]] = field(default_factory=list)
    # (channel, operator message ID) of receipts that match no message yet: kept as early
    # receipts (unless their IDs could fit no message).
    early: set[tuple[str, str]] = field(default_factory=set)
    # (channel, operator message ID) of receipts whose message is known (applied now or before).
    matched: set[tuple[str, str]] = field(default_factory=set)
    # How many of the receipts applied had been kept early.
    early_applied: int = 0


class MessageEvents:
    """The ChannelEvents sink every channel reports to."""

    def __init__(
        self, db: Database, clock: Clock, runs_awaiting_reply: inbound.RunsAwaitingReply
    ) -> None:
        self._db = db
        self._clock = clock
        self._runs_awaiting_reply = runs_awaiting_reply

    async def record_receipts(self, receipts: Sequence[Receipt]) -> set[str]:
        """Apply receipts to their messages (once each) and queue the pushes, in one commit.

        A receipt whose hand-off is not recorded yet is kept as an early receipt, and applied
        when that record lands; returns the operator message IDs kept so.
        """
        async with self._db.write() as conn:
            recorded = await record_receipts_within(conn, self._clock.now(), receipts)
        count_recorded_receipts(recorded)
        if recorded.early:
            log.info("%d receipts match no recorded hand-off yet; kept", len(recorded.early))
        return {operator_id for _, operator_id in recorded.early}

    async def record_inbound(self, messages: Sequence[InboundSms]) -> None:
        """Store inbound SMS under the organization they belong to, or keep them unmatched."""
        await inbound.record_inbound(self._db, self._clock, messages, self._runs_awaiting_reply)


async def record_receipts_within(
    conn: AsyncConnection, now: datetime, receipts: Sequence[Receipt]
) -> RecordedReceipts:
    """Apply receipts to their messages (once each) and queue the pushes; keep the ones that
    match no message as early receipts. The one rule for every receipt, in the caller's
    transaction.

    A receipt for a message that already has one changes nothing and is not kept.
    """
    recorded = RecordedReceipts()
    groups: dict[tuple[str, str, str], list[Receipt]] = defaultdict(list)
    for receipt in receipts:
        if receipt.status == ReceiptStatus.UNKNOWN:
            continue
        error = receipt.delivery_error if receipt.status == ReceiptStatus.FAILED else ""
        groups[(receipt.channel, receipt.status.value, error)].append(receipt)
    if not groups:
        return recorded
    events: list[tuple[int, str]] = []
    early: list[Receipt] = []
    for (channel, status, error), group in groups.items():
        operator_ids = [r.operator_message_id for r in group]
        changed = await queue_store.apply_receipts(conn, channel, operator_ids, status, error, now)
        events.extend((row_id, "receipt") for row_id, _, url, _ in changed if url)
        applied = {operator_id for _, operator_id, _, _ in changed}
        recorded.applied.extend(
            (channel, status, None if at is None else (now - at).total_seconds())
            for _, _, _, at in changed
        )
        rest = [i for i in operator_ids if i not in applied]
        known = await queue_store.select_known_operator_ids(conn, channel, rest) if rest else set()
        matched = applied | known
        recorded.matched.update((channel, i) for i in matched)
        early.extend(r for r in group if r.operator_message_id not in matched)
    await early_receipt_store.insert_early_receipts(conn, [r for r in early if could_match(r)])
    recorded.early.update((r.channel, r.operator_message_id) for r in early)
    await enqueue_message_pushes_within(conn, now, events)
    return recorded


def could_match(receipt: Receipt) -> bool:
    """Whether a message could ever carry this receipt's IDs (they fit its columns).

    One that cannot is not kept: a gateway may send any text, and it must not fail the record.
    """
    return (
        len(receipt.channel) <= MAX_CHANNEL_NAME
        and 0 < len(receipt.operator_message_id) <= MAX_OPERATOR_MESSAGE_ID
    )


async def apply_early_receipts_within(
    conn: AsyncConnection, now: datetime, handed_off: Sequence[tuple[str, str]]
) -> RecordedReceipts:
    """Apply the kept receipts of hand-offs just recorded (channel, operator message ID) and
    forget them, in the caller's transaction: the record and its receipt commit together."""
    # Nearly always none are kept: one cheap look spares every batch the lookup of its IDs.
    if not handed_off or not await early_receipt_store.any_early_receipts(conn):
        return RecordedReceipts()
    kept = await early_receipt_store.select_early_receipts(conn, handed_off)
    if not kept:
        return RecordedReceipts()
    recorded = await record_receipts_within(conn, now, kept)
    await early_receipt_store.delete_early_receipts(conn, sorted(recorded.matched))
    recorded.early_applied = len(recorded.matched)
    return recorded


async def sweep_early_receipts(db: Database, clock: Clock) -> int:
    """Apply kept receipts whose hand-off is recorded by now, and prune the ones kept longer
    than EARLY_RECEIPT_KEEP; how many receipts it applied or pruned.

    The Dispatcher applies a hand-off's kept receipts as it records it; this catches a receipt
    kept while that record was being committed (on PostgreSQL neither sees the other's rows).
    """
    now = clock.now()
    async with db.read_single() as conn:
        # Nearly always none: an idle worker then takes no write lock for the sweep.
        if not await early_receipt_store.any_early_receipts(conn):
            return 0
    async with db.write() as conn:
        due = await early_receipt_store.select_matching_early_receipts(
            conn, EARLY_RECEIPT_SWEEP_BATCH
        )
        recorded = await apply_early_receipts_within(
            conn, now, [(r.channel, r.operator_message_id) for r in due]
        )
        pruned = await early_receipt_store.delete_early_receipts_before(
            conn, now - EARLY_RECEIPT_KEEP
        )
    count_recorded_receipts(recorded)
    if pruned:
        EARLY_RECEIPTS.labels("pruned").inc(pruned)
        log.warning("%d receipts matched no hand-off within %s; pruned", pruned, EARLY_RECEIPT_KEEP)
    return len(recorded.matched) + pruned


def count_recorded_receipts(recorded: RecordedReceipts) -> None:
    """Count committed receipts in the metrics: applied, kept early, and applied once kept."""
    counted: dict[tuple[str, str], int] = defaultdict(int)
    for channel, status, latency in recorded.applied:
        counted[(channel, status)] += 1
        if latency is not None:
            RECEIPT_LATENCY.labels(channel).observe(max(latency, 0.0))
    for (channel, status), n in counted.items():
        RECEIPTS.labels(channel, status).inc(n)
    if recorded.early:
        EARLY_RECEIPTS.labels("stored").inc(len(recorded.early))
    if recorded.early_applied:
        EARLY_RECEIPTS.labels("applied").inc(recorded.early_applied)


async def take_unhandled_inbound_within(
    conn: AsyncConnection, now: datetime, limit: int, skip_locked: bool
) -> list[UnhandledInbound]:
    """Inbound messages not yet handled by the campaigns (poll answers, opt-out keywords).

    They count as handled once the caller's transaction commits.
    """
    return await store.take_unhandled_inbound(conn, now, limit, skip_locked)


async def any_unhandled_inbound(db: Database, now: datetime) -> bool:
    """Whether some inbound message waits for the campaigns (a cheap read for idle polls)."""
    async with db.read_single() as conn:
        return await store.any_unhandled_inbound(conn, now)
