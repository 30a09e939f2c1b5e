"""Group commit for accepted top-ups: concurrent requests share one transaction.

Each request plans its top-up (number, operator, amount, price) on its own; a batch is written
in one transaction (see db/batch_intake.py): one balance update per organization, one insert
each for reservations, ledger entries, top-ups and clientDedup keys, and one update that begins
the first attempt of the synchronous ones.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.billing import reservations as funds
from tambuli.clock import Clock
from tambuli.db.batch_intake import BatchIntake
from tambuli.db.engine import Database
from tambuli.errors import DuplicateTopup, InsufficientFunds, TambuliError
from tambuli.topups import store
from tambuli.topups.models import StoredTopup, TopupStatus, make_attempt_reference
from tambuli.topups.planning import TopupDraft

RESERVATION_REASON = "topup"


class TopupIntake(BatchIntake[TopupDraft, StoredTopup]):
    """Writes planned top-ups in batches; one per process, shared by every request."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        lease: timedelta,
        max_batch: int = 200,
        max_waiting: int = 5000,
    ) -> None:
        super().__init__(db, max_batch, max_waiting)
        self._clock = clock
        self._lease = lease

    async def write_batch(
        self, conn: AsyncConnection, drafts: list[TopupDraft]
    ) -> list[StoredTopup | TambuliError]:
        """Write drafts in the caller's transaction, stamped with the time now."""
        now = self._clock.now()
        return await _write_drafts_within(conn, self._clock, drafts, now, self._lease)

    async def find_duplicate(self, draft: TopupDraft) -> TambuliError:
        """The answer to a draft whose clientDedup another process took first."""
        async with self._db.read() as conn:
            original = await store.select_topup_by_dedup(conn, draft.org_id, draft.client_dedup)
        if original is None:
            raise RuntimeError("a clientDedup conflict without an original top-up")
        return DuplicateTopup(original)


def _dedup_key(draft: TopupDraft) -> tuple[int, str] | None:
    return (draft.org_id, draft.client_dedup) if draft.client_dedup else None


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
            by_org[draft.org_id].append(index)
    reservations: dict[int, int] = {}
    # Organizations in ID order: the same global lock order as every other batch.
    for org_id in sorted(by_org):
        indexes = by_org[org_id]
        answers = await funds.reserve_each_within(
            conn,
            clock,
            org_id,
            [drafts[i].plan.price_micro for i in indexes],
            RESERVATION_REASON,
            [f"top-up to +{drafts[i].recipient}" for i in indexes],
        )
        for index, answer in zip(indexes, answers, strict=True):
            if isinstance(answer, InsufficientFunds):
                outcomes[index] = answer
            else:
                reservations[index] = answer
    written = sorted(reservations)
    stored = await store.insert_topups(
        conn, now, now + lease, [drafts[i] for i in written], [reservations[i] for i in written]
    )
    keys = []
    starts = []
    for index, topup in zip(written, stored, strict=True):
        if topup.client_dedup:
            keys.append((topup.org_id, topup.client_dedup, topup.row_id))
        if drafts[index].claim:
            reference = make_attempt_reference(topup.topup_id, 1)
            topup = replace(
                topup, status=TopupStatus.SENDING, attempts=1, pending_ref=reference, updated_at=now
            )
            starts.append(topup)
        outcomes[index] = topup
    await store.insert_dedup_keys(conn, keys)
    await store.begin_attempts(conn, starts)
    # Repeats of a key within this batch answer with the top-up that took the key.
    for index, outcome in enumerate(outcomes):
        if isinstance(outcome, _SameBatchRepeat):
            first = outcomes[outcome.first]
            outcomes[index] = DuplicateTopup(first) if isinstance(first, StoredTopup) else first
    return [o for o in outcomes if o is not None]


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
