"""The simulated airtime provider's durable memory, kept in Tambuli's own database."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import Insert, select
from sqlalchemy.dialects import postgresql, sqlite

from tambuli.channels.airtime.base import AirtimeOutcome
from tambuli.channels.airtime.simulator import SimulatedTopup
from tambuli.db.engine import Database
from tambuli.db.schema import simulator_topups
from tambuli.db.statements import execute, execute_many


def _to_entry(row: Any) -> SimulatedTopup:
    return SimulatedTopup(
        reference=row.reference,
        recipient=row.recipient,
        amount_minor=int(row.amount_minor),
        currency=row.currency,
        outcome=AirtimeOutcome(row.outcome),
        received_minor=None if row.received_minor is None else int(row.received_minor),
        error=row.error,
        transaction_id=row.transaction_id,
        created_at=row.created_at,
    )


def _insert_ignoring_duplicates(db: Database) -> Insert:
    # ON CONFLICT DO NOTHING rather than catching IntegrityError: on PostgreSQL a failed insert
    # aborts its transaction, and a repeated record (a retried write whose first commit did
    # land) is expected here, not an error. Both dialects spell it the same way.
    dialect = postgresql if db.dialect == "postgresql" else sqlite
    statement: Insert = dialect.insert(simulator_topups).on_conflict_do_nothing(
        index_elements=[simulator_topups.c.reference]
    )
    return statement


class DatabaseAirtimeJournal:
    """An AirtimeJournal on the simulator_topups table."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._insert = _insert_ignoring_duplicates(db)
        # A worker sends a whole batch of top-ups at once: records that arrive while one
        # commit is being written share the next one (one statement, no per-row savepoints,
        # since an insert that ignores duplicates cannot fail on its own).
        self._waiting: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._drain: asyncio.Task[None] | None = None

    async def record_topup(self, entry: SimulatedTopup) -> None:
        """Remember an answer; a reference already recorded keeps its first answer."""
        values = {
            "reference": entry.reference,
            "recipient": entry.recipient,
            "amount_minor": entry.amount_minor,
            "currency": entry.currency,
            "outcome": entry.outcome.value,
            "received_minor": entry.received_minor,
            "error": entry.error,
            "transaction_id": entry.transaction_id,
            "created_at": entry.created_at,
        }
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((values, done))
        if self._drain is None or self._drain.done():
            self._drain = asyncio.create_task(self._write_waiting())
        await done

    async def _write_waiting(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                async with self._db.write() as conn:
                    await execute_many(conn, self._insert, [values for values, _ in batch])
            except Exception as exc:  # every waiting caller learns its record may be missing
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for _, done in batch:
                if not done.done():
                    done.set_result(None)

    async def find_topup(self, reference: str) -> SimulatedTopup | None:
        """The answer recorded for a reference, or None."""
        query = select(simulator_topups).where(simulator_topups.c.reference == reference)
        async with self._db.read_single() as conn:
            row = (await execute(conn, query)).first()
        return None if row is None else _to_entry(row)
