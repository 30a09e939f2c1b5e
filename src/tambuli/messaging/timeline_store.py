"""SQL for a message's delivery timeline: its hand-off details and the replies after it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.db.schema import messages
from tambuli.db.statements import execute
from tambuli.messaging.models import Direction
from tambuli.messaging.store import MESSAGE_COLUMNS, to_stored_message
from tambuli.messaging.views import StoredMessage


async def select_hand_off(
    conn: AsyncConnection, org_id: int, row_id: int
) -> tuple[str, str, datetime | None]:
    """The channel, the operator's reference and the last change of one message."""
    row = (
        await execute(
            conn,
            select(messages.c.channel, messages.c.operator_message_id, messages.c.updated_at).where(
                messages.c.id == row_id, messages.c.org_id == org_id
            ),
        )
    ).one_or_none()
    if row is None:
        return "", "", None
    return str(row.channel or ""), str(row.operator_message_id or ""), row.updated_at


async def select_replies(
    conn: AsyncConnection, org_id: int, handset: str, start: datetime, end: datetime, limit: int
) -> list[StoredMessage]:
    """Inbound messages from a handset to the organization in [start, end), oldest first."""
    rows = await execute(
        conn,
        select(*MESSAGE_COLUMNS)
        .where(
            messages.c.org_id == org_id,
            messages.c.created_at >= start,
            messages.c.created_at < end,
            messages.c.direction == Direction.INGRESS.value,
            messages.c.sender == handset,
        )
        .order_by(messages.c.created_at, messages.c.id)
        .limit(limit),
    )
    return [to_stored_message(row) for row in rows]
