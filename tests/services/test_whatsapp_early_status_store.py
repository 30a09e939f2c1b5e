"""Statuses kept until their message is recorded: a body delivered twice keeps one of each."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from tambuli.db.engine import Database
from tambuli.db.schema import whatsapp_early_statuses
from tambuli.whatsapp import status_store

AT = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


async def test_a_status_kept_twice_at_once_is_kept_once(db: Database) -> None:
    row = {
        "channel": "cloud-kept-twice",
        "operator_message_id": "wamid.kept-twice",
        "state": "delivered",
        "error": "",
        "at": AT,
    }
    async with db.write() as conn:
        # The same body's statuses twice in one call, then again: never a primary-key failure.
        await status_store.insert_early_statuses(conn, [row, dict(row)])
        await status_store.insert_early_statuses(conn, [{**row, "error": "later copy"}])
    async with db.read() as conn:
        kept = await conn.execute(
            select(func.count(), func.min(whatsapp_early_statuses.c.error)).where(
                whatsapp_early_statuses.c.channel == "cloud-kept-twice"
            )
        )
        count, error = kept.one()
    assert (count, error) == (1, "")
