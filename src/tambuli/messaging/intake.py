"""Group commit for accepted SMS: many concurrent sends share one transaction.

Each request prepares its message (recipient, text, parts, price) on its own, then waits here.
One drain task writes whatever has gathered in a single transaction: one balance update per
organization, one insert each for reservations, ledger entries, messages and clientDedup keys.
An idle server writes a batch of one at once, so batching adds no delay; under load, the
commits per message fall with the load. When more sends are waiting than a batch loop can
take, new ones are refused with Overloaded (429) instead of queueing without bound, so intake
never crowds out delivery.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.billing import batches
from tambuli.clock import Clock
from tambuli.db.engine import Database
from tambuli.errors import DuplicateMessage, InsufficientFunds, Overloaded, TambuliError
from tambuli.messaging import store
from tambuli.messaging.segments import SegmentedMessage
from tambuli.messaging.views import StoredMessage

log = logging.getLogger("tambuli.intake")
RESERVATION_REASON = "sms"


@dataclass(frozen=True)
class Draft:
    """A message ready to be written; its times are set when its batch is written."""

    message: store.NewMessage
    delivery_window: timedelta
    segments: SegmentedMessage


@dataclass
class _Waiting:
    draft: Draft
    answer: asyncio.Future[StoredMessage]


class SmsIntake:
    """Writes drafts in batches; one per process, shared by every request."""

    def __init__(
        self, db: Database, clock: Clock, max_batch: int = 200, max_waiting: int = 5000
    ) -> None:
        self._db = db
        self._clock = clock
        self._max_batch = max_batch
        self._max_waiting = max_waiting
        self._waiting: list[_Waiting] = []
        self._drain: asyncio.Task[None] | None = None

    async def submit(self, draft: Draft) -> StoredMessage:
        """Write one draft (with whatever else is waiting); the stored message, or its error."""
        if len(self._waiting) >= self._max_waiting:
            raise Overloaded()
        answer: asyncio.Future[StoredMessage] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(draft, answer))
        if self._drain is None or self._drain.done():
            self._drain = asyncio.create_task(self._drain_waiting())
        return await answer

    async def _drain_waiting(self) -> None:
        while self._waiting:
            batch = self._waiting[: self._max_batch]
            del self._waiting[: self._max_batch]
            try:
                await self._write(batch)
            except Exception as exc:  # a database fault must reach every waiting request
                log.exception("writing a batch of %d messages failed", len(batch))
                for waiting in batch:
                    if not waiting.answer.done():
                        waiting.answer.set_exception(exc)

    async def _write(self, batch: list[_Waiting]) -> None:
        now = self._clock.now()
        drafts = [_timed(w.draft, now) for w in batch]
        try:
            async with self._db.write() as conn:
                outcomes = await write_drafts_within(conn, self._clock, drafts)
        except IntegrityError:
            if len(batch) == 1:
                outcomes = [await self._duplicate_of(drafts[0])]
            else:
                # Another process took a clientDedup key of this batch meanwhile: write each
                # on its own, so only the duplicate fails.
                for waiting in batch:
                    await self._write([waiting])
                return
        for waiting, outcome in zip(batch, outcomes, strict=True):
            # A request cancelled meanwhile (client gone) must not spoil its batch-mates' answers.
            if waiting.answer.done():
                continue
            if isinstance(outcome, StoredMessage):
                waiting.answer.set_result(outcome)
            else:
                waiting.answer.set_exception(outcome)

    async def _duplicate_of(self, draft: Draft) -> TambuliError:
        message = draft.message
        async with self._db.read() as conn:
            original = await store.select_message_by_dedup(
                conn, message.org_id, message.client_dedup
            )
        if original is None:
            raise RuntimeError("a clientDedup conflict without an original message")
        return DuplicateMessage(original)


def _timed(draft: Draft, now: datetime) -> Draft:
    return replace(
        draft,
        message=replace(draft.message, created_at=now, deadline_at=now + draft.delivery_window),
    )


async def write_drafts_within(
    conn: AsyncConnection, clock: Clock, drafts: list[Draft]
) -> list[StoredMessage | TambuliError]:
    """Write a batch inside one transaction; per draft, the stored message or why not."""
    outcomes: list[StoredMessage | TambuliError | None] = [None] * len(drafts)
    await _refuse_duplicates(conn, drafts, outcomes)
    reservations: dict[int, int | None] = {}
    by_org: dict[int, list[int]] = defaultdict(list)
    for index, draft in enumerate(drafts):
        if outcomes[index] is None:
            if _total(draft) > 0:
                by_org[draft.message.org_id].append(index)
            else:
                reservations[index] = None
    # Organizations in ID order: the same global lock order as billing's batches.
    for org_id in sorted(by_org):
        indexes = by_org[org_id]
        await _reserve_for_org(conn, clock, org_id, drafts, indexes, reservations, outcomes)
    written = sorted(reservations)
    row_ids = await store.insert_queued_messages(
        conn, [drafts[i].message for i in written], [reservations[i] for i in written]
    )
    keys = []
    for index, row_id in zip(written, row_ids, strict=True):
        message = drafts[index].message
        outcomes[index] = store.queued_message(row_id, message)
        if message.client_dedup:
            keys.append((message.org_id, message.client_dedup, row_id))
    await store.insert_dedup_keys(conn, keys)
    # Repeats of a key within this batch answer with the message that took the key.
    for index, outcome in enumerate(outcomes):
        if isinstance(outcome, _SameBatchRepeat):
            first = outcomes[outcome.first]
            outcomes[index] = DuplicateMessage(first) if isinstance(first, StoredMessage) else first
    assert all(o is not None for o in outcomes)
    return [o for o in outcomes if o is not None]


class _SameBatchRepeat(TambuliError):
    """A clientDedup key that an earlier draft of the same batch uses."""

    def __init__(self, first: int) -> None:
        super().__init__()
        self.first = first


def _total(draft: Draft) -> int:
    return draft.message.parts * draft.message.price_per_part_micro


async def _refuse_duplicates(
    conn: AsyncConnection,
    drafts: list[Draft],
    outcomes: list[StoredMessage | TambuliError | None],
) -> None:
    wanted = {(d.message.org_id, d.message.client_dedup) for d in drafts if d.message.client_dedup}
    if not wanted:
        return
    existing = await store.select_messages_by_dedup_keys(conn, wanted)
    first_use: dict[tuple[int, str], int] = {}
    for index, draft in enumerate(drafts):
        key = (draft.message.org_id, draft.message.client_dedup)
        if not draft.message.client_dedup:
            continue
        if key in existing:
            outcomes[index] = DuplicateMessage(existing[key])
        elif key in first_use:
            outcomes[index] = _SameBatchRepeat(first_use[key])
        else:
            first_use[key] = index


async def _reserve_for_org(
    conn: AsyncConnection,
    clock: Clock,
    org_id: int,
    drafts: list[Draft],
    indexes: list[int],
    reservations: dict[int, int | None],
    outcomes: list[StoredMessage | TambuliError | None],
) -> None:
    """Reserve the org's drafts together; if the sum does not fit, one by one in order."""
    amounts = [_total(drafts[i]) for i in indexes]
    references = [f"sms to +{drafts[i].message.recipient}" for i in indexes]
    answers = await batches.reserve_each_within(
        conn, clock, org_id, amounts, RESERVATION_REASON, references
    )
    for index, answer in zip(indexes, answers, strict=True):
        if isinstance(answer, InsufficientFunds):
            outcomes[index] = answer
        else:
            reservations[index] = answer
