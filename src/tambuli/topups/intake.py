"""Group commit for accepted top-ups: concurrent requests share one transaction.

Each request plans its top-up (number, operator, amount, price) on its own, then waits here.
One drain task writes whatever has gathered in a single transaction: one balance update per
organization, one insert each for reservations, ledger entries, top-ups and clientDedup keys,
and one update that begins the first attempt of the synchronous ones. An idle server writes a
batch of one at once; under load the commits per top-up fall with the load. When more
requests wait than a batch loop can take, new ones are refused with Overloaded (429).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.billing import batches
from tambuli.clock import Clock
from tambuli.db.engine import Database
from tambuli.errors import DuplicateTopup, InsufficientFunds, Overloaded, TambuliError
from tambuli.topups import store
from tambuli.topups.models import StoredTopup, TopupStatus, make_attempt_reference

log = logging.getLogger("tambuli.topups")
RESERVATION_REASON = "topup"


@dataclass(frozen=True)
class TopupDraft:
    """A planned top-up: its column values, and whether its request sends it itself."""

    row: dict[str, Any]
    # A synchronous request claims its top-up and begins the first attempt in the same
    # commit, so no worker takes it while the request is still waiting on it.
    claim: bool


@dataclass
class _Waiting:
    draft: TopupDraft
    answer: asyncio.Future[StoredTopup]


class TopupIntake:
    """Writes planned top-ups in batches; one per process, shared by every request."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        lease: timedelta,
        max_batch: int = 200,
        max_waiting: int = 5000,
    ) -> None:
        self._db = db
        self._clock = clock
        self._lease = lease
        self._max_batch = max_batch
        self._max_waiting = max_waiting
        self._waiting: list[_Waiting] = []
        self._drain: asyncio.Task[None] | None = None

    async def submit(self, draft: TopupDraft) -> StoredTopup:
        """Write one top-up (with whatever else is waiting); the stored top-up, or its error."""
        if len(self._waiting) >= self._max_waiting:
            raise Overloaded()
        answer: asyncio.Future[StoredTopup] = asyncio.get_running_loop().create_future()
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
                log.exception("writing a batch of %d top-ups failed", len(batch))
                for waiting in batch:
                    if not waiting.answer.done():
                        waiting.answer.set_exception(exc)

    async def _write(self, batch: list[_Waiting]) -> None:
        now = self._clock.now()
        drafts = [w.draft for w in batch]
        try:
            async with self._db.write() as conn:
                outcomes = await _write_drafts_within(conn, self._clock, drafts, now, self._lease)
        except IntegrityError:
            if len(batch) > 1:
                # Another process took a clientDedup key of this batch meanwhile: write each
                # on its own, so only the duplicate fails.
                for waiting in batch:
                    await self._write([waiting])
                return
            outcomes = [await self._duplicate_of(drafts[0])]
        for waiting, outcome in zip(batch, outcomes, strict=True):
            # A request cancelled meanwhile (client gone) must not spoil its batch-mates' answers.
            if waiting.answer.done():
                continue
            if isinstance(outcome, StoredTopup):
                waiting.answer.set_result(outcome)
            else:
                waiting.answer.set_exception(outcome)

    async def _duplicate_of(self, draft: TopupDraft) -> TambuliError:
        async with self._db.read() as conn:
            original = await store.select_topup_by_dedup(
                conn, draft.row["org_id"], draft.row["client_dedup"]
            )
        if original is None:
            raise RuntimeError("a clientDedup conflict without an original top-up")
        return DuplicateTopup(original)


def _dedup_key(draft: TopupDraft) -> tuple[int, str] | None:
    key = str(draft.row.get("client_dedup") or "")
    return (int(draft.row["org_id"]), key) if key else None


async def _write_drafts_within(
    conn: AsyncConnection,
    clock: Clock,
    drafts: list[TopupDraft],
    now: datetime,
    lease: timedelta,
) -> list[StoredTopup | TambuliError]:
    """Write a batch inside one transaction; per draft, the stored top-up or why not."""
    outcomes: list[StoredTopup | TambuliError | None] = [None] * len(drafts)
    await _refuse_duplicates(conn, drafts, outcomes)
    by_org: dict[int, list[int]] = defaultdict(list)
    for index, draft in enumerate(drafts):
        if outcomes[index] is None:
            by_org[int(draft.row["org_id"])].append(index)
    reservations: dict[int, int] = {}
    # Organizations in ID order: the same global lock order as every other batch.
    for org_id in sorted(by_org):
        indexes = by_org[org_id]
        answers = await batches.reserve_each_within(
            conn,
            clock,
            org_id,
            [int(drafts[i].row["price_micro"]) for i in indexes],
            RESERVATION_REASON,
            [f"top-up to +{drafts[i].row['recipient']}" for i in indexes],
        )
        for index, answer in zip(indexes, answers, strict=True):
            if isinstance(answer, InsufficientFunds):
                outcomes[index] = answer
            else:
                reservations[index] = answer
    written = sorted(reservations)
    rows = [_timed(drafts[i], reservations[i], now, lease) for i in written]
    stored = await store.insert_topups(conn, rows)
    keys = []
    starts = []
    for index, topup in zip(written, stored, strict=True):
        if topup.client_dedup:
            keys.append((topup.org_id, topup.client_dedup, topup.row_id))
        if drafts[index].claim:
            reference = make_attempt_reference(topup.topup_id, 1)
            starts.append({"topup_id": topup.row_id, "attempts": 1, "ref": reference, "now": now})
            topup = replace(topup, status=TopupStatus.SENDING, attempts=1, pending_ref=reference)
        outcomes[index] = topup
    await store.insert_dedup_keys(conn, keys)
    await store.begin_attempts(conn, starts)
    # Repeats of a key within this batch answer with the top-up that took the key.
    for index, outcome in enumerate(outcomes):
        if isinstance(outcome, _SameBatchRepeat):
            first = outcomes[outcome.first]
            outcomes[index] = DuplicateTopup(first) if isinstance(first, StoredTopup) else first
    return [o for o in outcomes if o is not None]


def _timed(
    draft: TopupDraft, reservation_id: int, now: datetime, lease: timedelta
) -> dict[str, Any]:
    lease_until = now + lease if draft.claim else None
    return {
        **draft.row,
        "reservation_id": reservation_id,
        "status": TopupStatus.QUEUED.value,
        "attempts": 0,
        "next_attempt_at": lease_until or now,
        "lease_until": lease_until,
        "created_at": now,
        "updated_at": now,
    }


class _SameBatchRepeat(TambuliError):
    """A clientDedup key that an earlier draft of the same batch uses."""

    def __init__(self, first: int) -> None:
        super().__init__()
        self.first = first


async def _refuse_duplicates(
    conn: AsyncConnection,
    drafts: list[TopupDraft],
    outcomes: list[StoredTopup | TambuliError | None],
) -> None:
    wanted = {key for key in map(_dedup_key, drafts) if key is not None}
    if not wanted:
        return
    existing = await store.select_topups_by_dedup_keys(conn, wanted)
    first_use: dict[tuple[int, str], int] = {}
    for index, draft in enumerate(drafts):
        key = _dedup_key(draft)
        if key is None:
            continue
        if key in existing:
            outcomes[index] = DuplicateTopup(existing[key])
        elif key in first_use:
            outcomes[index] = _SameBatchRepeat(first_use[key])
        else:
            first_use[key] = index
