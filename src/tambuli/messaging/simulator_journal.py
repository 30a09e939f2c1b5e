"""The simulated operator's durable memory, kept in Tambuli's own database."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.channels.base import Outcome
from tambuli.channels.sms.simulator import DueEvent, Submission
from tambuli.db.claims import DueRows, claim_due_rows
from tambuli.db.engine import Database
from tambuli.db.schema import simulator_messages
from tambuli.db.statements import execute, execute_many

# How long a claimed receipt waits before another worker may send it.
EVENT_LEASE = timedelta(seconds=60)


def _to_submission(row: Any) -> Submission:
    return Submission(
        operator_message_id=row.operator_message_id,
        message_id=int(row.message_id),
        sender=row.sender,
        recipient=row.recipient,
        body=row.body,
        parts=int(row.parts),
        outcome=Outcome(row.outcome),
        receipt=row.receipt,
        receipt_due_at=row.receipt_due_at,
        reply=row.reply,
        submitted_at=row.submitted_at,
    )


_DUE_EVENTS = DueRows(
    simulator_messages,
    simulator_messages.c.receipt_due_at,
    returning=tuple(simulator_messages.c),
)


class DatabaseJournal:
    """A SimulatorJournal on the simulator_messages table."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def record_submissions(self, submissions: Sequence[Submission]) -> None:
        """Remember hand-offs in one commit."""
        if not submissions:
            return
        async with self._db.write() as conn:
            await execute_many(
                conn,
                insert(simulator_messages),
                [
                    {
                        "operator_message_id": s.operator_message_id,
                        "message_id": s.message_id,
                        "sender": s.sender,
                        "recipient": s.recipient,
                        "body": s.body,
                        "parts": s.parts,
                        "outcome": s.outcome.value,
                        "receipt": s.receipt,
                        "receipt_due_at": s.receipt_due_at,
                        "reply": s.reply,
                        "submitted_at": s.submitted_at,
                    }
                    for s in submissions
                ],
            )

    async def due_events(self, now: datetime, limit: int) -> list[DueEvent]:
        """Claim entries whose receipt is due, oldest first.

        Claiming moves their due time a lease ahead, so two worker processes never send the
        same receipt or reply twice, and a worker that dies before mark_events_sent leaves
        them to be sent after the lease.
        """
        async with self._db.write() as conn:
            rows = await claim_due_rows(
                conn,
                _DUE_EVENTS,
                now=now,
                lease_until=now + EVENT_LEASE,
                limit=limit,
                skip_locked=not self._db.is_sqlite,
            )
        return [DueEvent(int(r.id), _to_submission(r)) for r in rows]

    async def mark_events_sent(self, ids: Sequence[int]) -> None:
        """Forget the receipts of these entries."""
        if not ids:
            return
        async with self._db.write() as conn:
            await execute(
                conn,
                update(simulator_messages)
                .where(simulator_messages.c.id.in_(list(ids)))
                .values(receipt_due_at=None),
            )


async def _select_inbox(
    conn: AsyncConnection, recipient: str | None, limit: int
) -> list[Submission]:
    query = select(simulator_messages).order_by(simulator_messages.c.id.desc()).limit(limit)
    if recipient:
        query = query.where(simulator_messages.c.recipient == recipient)
    return [_to_submission(r) for r in await execute(conn, query)]


async def read_simulator_inbox(
    db: Database, recipient: str | None = None, limit: int = 50
) -> list[Submission]:
    """What the simulated operator received, newest first (optionally for one number)."""
    async with db.read() as conn:
        return await _select_inbox(conn, recipient, limit)


async def count_handoffs_by_message(db: Database) -> dict[int, int]:
    """How many times each message was handed to the simulator (crash tests count these)."""
    async with db.read() as conn:
        rows = await execute(
            conn,
            select(simulator_messages.c.message_id, func.count())
            .where(simulator_messages.c.outcome == Outcome.ACCEPTED.value)
            .group_by(simulator_messages.c.message_id),
        )
        return {int(r[0]): int(r[1]) for r in rows}
