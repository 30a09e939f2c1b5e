"""SQL for WhatsApp statuses: the messages a provider's IDs name, and statuses kept until
their message's hand-off is recorded."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.db.schema import whatsapp_early_statuses, whatsapp_messages
from tambuli.db.statements import execute, execute_many
from tambuli.messaging.models import Direction

t = whatsapp_messages


async def select_by_operator_ids(
    conn: AsyncConnection, channel: str, operator_message_ids: Sequence[str]
) -> list[Any]:
    """The outbound messages these provider IDs of a channel name (locked till commit)."""
    if not operator_message_ids:
        return []
    rows = await execute(
        conn,
        select(
            t.c.id,
            t.c.operator_message_id,
            t.c.state,
            t.c.status,
            t.c.client_push_url,
            t.c.sent_at,
            t.c.delivered_at,
            t.c.read_at,
            t.c.failed_at,
        )
        .where(
            t.c.channel == channel,
            t.c.operator_message_id.in_(list(operator_message_ids)),
            t.c.direction == Direction.EGRESS.value,
        )
        .with_for_update(),
    )
    return list(rows)


async def insert_early_statuses(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Keep statuses whose message is not recorded yet; one per (channel, id, state).

    A status kept already stays: the same webhook body delivered twice at once must not fail
    on the primary key.
    """
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(whatsapp_early_statuses).on_conflict_do_nothing(
        index_elements=["channel", "operator_message_id", "state"]
    )
    await execute_many(conn, statement, list(rows))


async def delete_early_statuses_before(conn: AsyncConnection, before: datetime) -> None:
    """Forget kept statuses older than `before`: their message will not be recorded now."""
    await execute(
        conn, delete(whatsapp_early_statuses).where(whatsapp_early_statuses.c.at < before)
    )


async def any_early_statuses(conn: AsyncConnection) -> bool:
    """Whether any status is kept at all."""
    found = await execute(conn, select(whatsapp_early_statuses.c.at).limit(1))
    return found.first() is not None


async def select_matched_early_statuses(conn: AsyncConnection, limit: int) -> list[Any]:
    """Kept statuses whose message is recorded by now: (channel, operator_message_id)."""
    kept = whatsapp_early_statuses
    rows = await execute(
        conn,
        select(kept.c.channel, kept.c.operator_message_id)
        .join(
            t,
            and_(
                t.c.channel == kept.c.channel,
                t.c.operator_message_id == kept.c.operator_message_id,
            ),
        )
        .distinct()
        .limit(limit),
    )
    return list(rows)


async def take_early_statuses(
    conn: AsyncConnection, channel: str, operator_message_ids: Sequence[str]
) -> list[Any]:
    """The kept statuses of these provider IDs, removed from the waiting list."""
    if not operator_message_ids:
        return []
    clause = and_(
        whatsapp_early_statuses.c.channel == channel,
        whatsapp_early_statuses.c.operator_message_id.in_(list(operator_message_ids)),
    )
    rows = list(await execute(conn, select(whatsapp_early_statuses).where(clause)))
    if rows:
        await execute(conn, delete(whatsapp_early_statuses).where(clause))
    return rows
