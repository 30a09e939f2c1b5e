"""The simulated WhatsApp provider's durable memory of what it owes, in Tambuli's own database."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, insert

from tambuli.channels.whatsapp.base import InboundWhatsApp, WhatsAppState, WhatsAppStatus
from tambuli.channels.whatsapp.simulator import DueOwedEvent, OwedEvent
from tambuli.db.claims import DueRows, claim_due_rows
from tambuli.db.engine import Database
from tambuli.db.schema import simulator_whatsapp_events as owed_events
from tambuli.db.statements import execute, execute_many

# How long a claimed event waits before another worker may report it.
EVENT_LEASE = timedelta(seconds=60)

_DUE = DueRows(owed_events, owed_events.c.due_at, returning=tuple(owed_events.c))
_INSERT = insert(owed_events)
_FORGET = delete(owed_events).where(owed_events.c.id.in_(bindparam("ids", expanding=True)))


def _to_row(event: OwedEvent) -> dict[str, Any]:
    if event.status is not None:
        status = event.status
        return {
            "channel": status.channel,
            "due_at": event.due_at,
            "operator_message_id": status.operator_message_id,
            "state": status.state.value,
            "error": status.error,
            "sender": "",
            "recipient": "",
            "text": "",
            "happened_at": status.at,
        }
    reply = event.reply
    assert reply is not None, "an owed event is a status or a reply"
    return {
        "channel": reply.channel,
        "due_at": event.due_at,
        "operator_message_id": reply.operator_event_id,
        "state": "",
        "error": "",
        "sender": reply.sender,
        "recipient": reply.recipient,
        "text": reply.text,
        "happened_at": reply.at,
    }


def _to_event(row: Any) -> OwedEvent:
    if row.state:
        status = WhatsAppStatus(
            channel=row.channel,
            operator_message_id=row.operator_message_id,
            state=WhatsAppState(row.state),
            error=row.error,
            at=row.happened_at,
        )
        return OwedEvent(row.happened_at, status=status)
    reply = InboundWhatsApp(
        channel=row.channel,
        recipient=row.recipient,
        sender=row.sender,
        text=row.text,
        at=row.happened_at,
        operator_event_id=row.operator_message_id,
    )
    return OwedEvent(row.happened_at, reply=reply)


class DatabaseOwedEvents:
    """An OwedEventJournal on the simulator_whatsapp_events table."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def record_owed(self, events: Sequence[OwedEvent]) -> None:
        """Remember owed events in one commit."""
        if not events:
            return
        async with self._db.write() as conn:
            await execute_many(conn, _INSERT, [_to_row(e) for e in events])

    async def claim_due(self, now: datetime, limit: int) -> list[DueOwedEvent]:
        """Claim events due by now, oldest first; claiming moves their due time a lease ahead,
        so two worker processes never report one twice at once, and one that dies before
        forgetting them leaves them to be reported after the lease."""
        async with self._db.write() as conn:
            rows = await claim_due_rows(
                conn,
                _DUE,
                now=now,
                lease_until=now + EVENT_LEASE,
                limit=limit,
                skip_locked=not self._db.is_sqlite,
            )
        return [DueOwedEvent(int(r.id), _to_event(r)) for r in rows]

    async def forget(self, ids: Sequence[int]) -> None:
        """Remove reported entries."""
        if not ids:
            return
        async with self._db.write() as conn:
            await execute(conn, _FORGET, {"ids": list(ids)})
