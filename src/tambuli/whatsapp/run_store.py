"""SQL for the WhatsApp messages of campaign runs: finding failures."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.db.schema import whatsapp_messages as t
from tambuli.db.statements import execute
from tambuli.messaging.models import MessageStatus


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
