"""What operators send back: delivery receipts and inbound SMS, recorded in batches."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.channels.base import InboundSms, Receipt, ReceiptStatus
from tambuli.clock import Clock
from tambuli.db.engine import Database
from tambuli.messaging import inbound, queue_store, store
from tambuli.messaging.delivery import enqueue_message_pushes_within
from tambuli.messaging.views import UnhandledInbound
from tambuli.metrics import RECEIPT_LATENCY, RECEIPTS

log = logging.getLogger("tambuli.receipts")


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

        Returns the operator message IDs no message carries yet: their hand-off may not be
        recorded yet, so the channel offers them again later. A receipt for a message that
        already has one changes nothing and is not returned.
        """
        groups: dict[tuple[str, str, str], list[str]] = defaultdict(list)
        for receipt in receipts:
            if receipt.status == ReceiptStatus.UNKNOWN:
                continue
            error = receipt.delivery_error if receipt.status == ReceiptStatus.FAILED else ""
            groups[(receipt.channel, receipt.status.value, error)].append(
                receipt.operator_message_id
            )
        if not groups:
            return set()
        now = self._clock.now()
        unmatched: set[str] = set()
        # (channel, status, seconds from hand-off to receipt) of each receipt applied.
        applied_receipts: list[tuple[str, str, float | None]] = []
        async with self._db.write() as conn:
            events: list[tuple[int, str]] = []
            for (channel, status, error), operator_ids in groups.items():
                changed = await queue_store.apply_receipts(
                    conn, channel, operator_ids, status, error, now
                )
                events.extend((row_id, "receipt") for row_id, _, url, _ in changed if url)
                applied = {operator_id for _, operator_id, _, _ in changed}
                applied_receipts.extend(
                    (channel, status, None if at is None else (now - at).total_seconds())
                    for _, _, _, at in changed
                )
                rest = [i for i in operator_ids if i not in applied]
                if rest:
                    known = await queue_store.select_known_operator_ids(conn, channel, rest)
                    unmatched.update(i for i in rest if i not in known)
            await enqueue_message_pushes_within(conn, now, events)
        _count_receipts(applied_receipts)
        if unmatched:
            log.info("%d receipts match no recorded hand-off yet", len(unmatched))
        return unmatched

    async def record_inbound(self, messages: Sequence[InboundSms]) -> None:
        """Store inbound SMS under the organization they belong to, or keep them unmatched."""
        await inbound.record_inbound(self._db, self._clock, messages, self._runs_awaiting_reply)


def _count_receipts(applied: list[tuple[str, str, float | None]]) -> None:
    counted: dict[tuple[str, str], int] = defaultdict(int)
    for channel, status, latency in applied:
        counted[(channel, status)] += 1
        if latency is not None:
            RECEIPT_LATENCY.labels(channel).observe(max(latency, 0.0))
    for (channel, status), n in counted.items():
        RECEIPTS.labels(channel, status).inc(n)


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
