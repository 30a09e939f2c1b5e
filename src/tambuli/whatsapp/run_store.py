"""SQL for the WhatsApp messages of campaign runs: cancelling the queued ones, finding failures."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.db.schema import whatsapp_messages as t
from tambuli.db.statements import execute
from tambuli.messaging.models import MessageStatus


async def fail_queued_messages_of_runs(
    conn: AsyncConnection, run_ids: Sequence[int], now: datetime, error: str
) -> list[int]:
    """Fail the runs' WhatsApp messages still waiting (not held by a worker's claim right now);
    returns their reservation IDs to release."""
    if not run_ids:
        return []
    held = and_(t.c.lease_until.is_not(None), t.c.lease_until > now)
    rows = await execute(
        conn,
        update(t)
        .where(
            t.c.campaign_run_id.in_(sorted(set(run_ids))),
            t.c.status == MessageStatus.QUEUED.value,
            ~held,
        )
        .values(
            status=MessageStatus.FAILED.value,
            error=error,
            charged_micro=0,
            next_attempt_at=None,
            lease_until=None,
            updated_at=now,
        )
        .returning(t.c.reservation_id),
    )
    return [int(r) for r in rows.scalars() if r is not None]


async def select_runs_with_failed_messages(
    conn: AsyncConnection, run_ids: Sequence[int]
) -> set[int]:
    """Which of these runs have a WhatsApp message that failed (refused, expired, or reported
    failed by WhatsApp)."""
    if not run_ids:
        return set()
    rows = await execute(
        conn,
        select(t.c.campaign_run_id)
        .where(
            t.c.campaign_run_id.in_(sorted(set(run_ids))),
            or_(t.c.status == MessageStatus.FAILED.value, t.c.state == "failed"),
        )
        .distinct(),
    )
    return {int(r) for r in rows.scalars()}
