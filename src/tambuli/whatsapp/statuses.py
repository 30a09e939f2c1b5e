"""Recording what WhatsApp providers report about messages they took: sent, delivered, read,
failed. A status for a message whose hand-off is not recorded yet is kept and applied with it,
as SMS delivery receipts are (messaging/receipts.py)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.channels.whatsapp.base import WhatsAppState, WhatsAppStatus
from tambuli.clock import Clock
from tambuli.db.engine import Database
from tambuli.messaging.pushes import enqueue_record_pushes_within
from tambuli.whatsapp import status_store, store
from tambuli.whatsapp.views import render_record

# How far along each state is: a status never moves a message back.
# A kept status whose message has not been recorded after this long never will be (a message
# sent outside Tambuli from the same number, say): it is forgotten.
EARLY_STATUS_LIFETIME = timedelta(days=1)
_RANK = {"": 0, "sent": 1, "delivered": 2, "failed": 2, "read": 3}
_TIME_COLUMN = {
    WhatsAppState.SENT: "sent_at",
    WhatsAppState.DELIVERED: "delivered_at",
    WhatsAppState.READ: "read_at",
    WhatsAppState.FAILED: "failed_at",
}
# The clientPushURL event of each state: delivered, read and failed are the receipts an
# engageSPARK client waits for; `sent` only reaches organizations that chose every event.
_PUSH_EVENT = {
    WhatsAppState.SENT: "sent",
    WhatsAppState.DELIVERED: "receipt",
    WhatsAppState.READ: "receipt",
    WhatsAppState.FAILED: "receipt",
}


def _changes(row: Any, status: WhatsAppStatus, now: datetime) -> dict[str, Any]:
    """What a status changes on its message (nothing when it says nothing new)."""
    values: dict[str, Any] = {}
    column = _TIME_COLUMN[status.state]
    if getattr(row, column) is None:
        values[column] = status.at
    # A read or delivered message was sent (and a read one delivered), whichever came first.
    implied = {
        WhatsAppState.DELIVERED: ("sent_at",),
        WhatsAppState.READ: ("sent_at", "delivered_at"),
    }.get(status.state, ())
    for earlier in implied:
        if getattr(row, earlier) is None:
            values[earlier] = status.at
    state = str(row.state)
    if _RANK[status.state.value] > _RANK[state] or (
        status.state == WhatsAppState.FAILED and state in ("", "sent")
    ):
        values["state"] = status.state.value
        if status.state == WhatsAppState.FAILED:
            values["delivery_error"] = status.error[:100]
    if values:
        values["updated_at"] = now
    return values


async def record_statuses_within(
    conn: AsyncConnection, now: datetime, statuses: Sequence[WhatsAppStatus]
) -> None:
    """Apply statuses to their messages and queue the pushes; keep those of unknown messages."""
    by_channel: dict[str, list[WhatsAppStatus]] = defaultdict(list)
    for status in statuses:
        if 0 < len(status.operator_message_id) <= 200 and len(status.channel) <= 50:
            by_channel[status.channel].append(status)
    early: list[dict[str, Any]] = []
    events: list[tuple[int, str]] = []
    for channel, group in by_channel.items():
        rows = await status_store.select_by_operator_ids(
            conn, channel, sorted({s.operator_message_id for s in group})
        )
        found = {r.operator_message_id: r for r in rows}
        changes: list[tuple[int, dict[str, Any]]] = []
        for status in sorted(group, key=lambda s: (s.at, _RANK[s.state.value])):
            row = found.get(status.operator_message_id)
            if row is None:
                early.append(
                    {
                        "channel": channel,
                        "operator_message_id": status.operator_message_id,
                        "state": status.state.value,
                        "error": status.error,
                        "at": status.at,
                    }
                )
                continue
            values = _changes(row, status, now)
            if not values:
                continue
            changes.append((int(row.id), values))
            # Later statuses of the same message in this batch see this one.
            found[status.operator_message_id] = _Updated(row, values)
            if "state" in values and row.client_push_url:
                events.append((int(row.id), _PUSH_EVENT[status.state]))
        await store.update_messages(conn, changes)
    if early:
        await status_store.delete_early_statuses_before(conn, now - EARLY_STATUS_LIFETIME)
        await status_store.insert_early_statuses(conn, early)
    await enqueue_whatsapp_pushes_within(conn, now, events)


class _Updated:
    """A message row as a change leaves it."""

    def __init__(self, row: Any, values: dict[str, Any]) -> None:
        self._row = row
        self._values = values

    def __getattr__(self, name: str) -> Any:
        if name in self._values:
            return self._values[name]
        return getattr(self._row, name)


async def apply_early_statuses_within(
    conn: AsyncConnection, now: datetime, channel: str, operator_message_ids: Sequence[str]
) -> None:
    """Apply the kept statuses of hand-offs just recorded, and forget them."""
    kept = await status_store.take_early_statuses(conn, channel, operator_message_ids)
    if kept:
        await record_statuses_within(
            conn,
            now,
            [
                WhatsAppStatus(
                    r.channel, r.operator_message_id, WhatsAppState(r.state), r.error, r.at
                )
                for r in kept
            ],
        )


async def enqueue_whatsapp_pushes_within(
    conn: AsyncConnection, now: datetime, events: Sequence[tuple[int, str]]
) -> None:
    """Queue the clientPushURL push of each (message row ID, event), by the SMS rules."""
    if not events:
        return
    found = await store.select_messages_by_ids(conn, sorted({row_id for row_id, _ in events}))
    by_id = {m.id: m for m in found}
    records = []
    for row_id, event in events:
        message = by_id[row_id]
        # The record as it is now: a burst of statuses pushes the newest state each time.
        payload = msgspec.to_builtins(render_record(message))
        records.append((message.org_id, message.client_push_url, event, payload))
    await enqueue_record_pushes_within(conn, now, records)


async def sweep_early_statuses(db: Database, clock: Clock, limit: int = 500) -> int:
    """Apply kept statuses whose hand-off is recorded by now; how many messages they touched.

    The dispatcher applies a hand-off's kept statuses as it records it; this catches a status
    kept while that record was being committed (on PostgreSQL neither sees the other's rows).
    """
    now = clock.now()
    async with db.read_single() as conn:
        # Nearly always none: an idle worker then takes no write lock for the sweep.
        if not await status_store.any_early_statuses(conn):
            return 0
    async with db.write() as conn:
        matched = await status_store.select_matched_early_statuses(conn, limit)
        by_channel: dict[str, list[str]] = defaultdict(list)
        for row in matched:
            by_channel[row.channel].append(row.operator_message_id)
        for channel, wamids in by_channel.items():
            await apply_early_statuses_within(conn, now, channel, wamids)
    return len(matched)
