"""SQL for delivery receipts kept until the hand-off they belong to is recorded."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.channels.base import Receipt, ReceiptStatus
from tambuli.db.schema import early_receipts, messages
from tambuli.db.statements import execute, execute_many

_KEY = ["channel", "operator_message_id"]
# Asked once per recorded batch: a constant, so SQLite runs it compiled once.
_ANY_KEPT = select(early_receipts.c.channel).limit(1)


async def insert_early_receipts(conn: AsyncConnection, receipts: Sequence[Receipt]) -> None:
    """Keep these receipts; one kept already under the same (channel, operator ID) stays."""
    if not receipts:
        return
    rows = [
        {
            "channel": r.channel,
            "operator_message_id": r.operator_message_id,
            "status": r.status.value,
            "delivery_error": r.delivery_error,
            "delivered_parts": r.delivered_parts,
            "received_at": r.at,
        }
        for r in receipts
    ]
    if conn.dialect.name == "postgresql":
        await execute_many(
            conn,
            postgresql.insert(early_receipts).on_conflict_do_nothing(index_elements=_KEY),
            rows,
        )
    else:
        await execute_many(
            conn, sqlite.insert(early_receipts).on_conflict_do_nothing(index_elements=_KEY), rows
        )


async def select_early_receipts(
    conn: AsyncConnection, keys: Sequence[tuple[str, str]]
) -> list[Receipt]:
    """The kept receipts for these (channel, operator message ID) pairs."""
    if not keys:
        return []
    wanted = or_(
        *(
            and_(early_receipts.c.channel == channel, early_receipts.c.operator_message_id.in_(ids))
            for channel, ids in _group_by_channel(keys).items()
        )
    )
    rows = await execute(conn, select(early_receipts).where(wanted))
    return [_to_receipt(row) for row in rows]


async def any_early_receipts(conn: AsyncConnection) -> bool:
    """Whether any receipt is kept at all."""
    return (await execute(conn, _ANY_KEPT)).first() is not None


async def select_matching_early_receipts(conn: AsyncConnection, limit: int) -> list[Receipt]:
    """Kept receipts whose hand-off is recorded by now, oldest first."""
    matched = select(messages.c.id).where(
        messages.c.channel == early_receipts.c.channel,
        messages.c.operator_message_id == early_receipts.c.operator_message_id,
    )
    rows = await execute(
        conn,
        select(early_receipts)
        .where(matched.exists())
        .order_by(early_receipts.c.received_at)
        .limit(limit),
    )
    return [_to_receipt(row) for row in rows]


async def delete_early_receipts(conn: AsyncConnection, keys: Sequence[tuple[str, str]]) -> None:
    """Forget the kept receipts for these (channel, operator message ID) pairs."""
    for channel, ids in _group_by_channel(keys).items():
        await execute(
            conn,
            delete(early_receipts).where(
                early_receipts.c.channel == channel,
                early_receipts.c.operator_message_id.in_(ids),
            ),
        )


async def delete_early_receipts_before(conn: AsyncConnection, before: datetime) -> int:
    """Forget kept receipts that came before `before`; how many."""
    result = await execute(
        conn, delete(early_receipts).where(early_receipts.c.received_at < before)
    )
    return int(result.rowcount or 0)


def _group_by_channel(keys: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for channel, operator_id in keys:
        grouped.setdefault(channel, []).append(operator_id)
    return grouped


def _to_receipt(row: Row[Any]) -> Receipt:
    return Receipt(
        channel=row.channel,
        operator_message_id=row.operator_message_id,
        status=ReceiptStatus(row.status),
        delivery_error=row.delivery_error,
        delivered_parts=int(row.delivered_parts),
        at=row.received_at,
    )
