"""SQL for registered sender IDs."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.db.schema import senders
from tambuli.db.statements import execute
from tambuli.messaging.views import RegisteredSender


def _to_sender(row: Any) -> RegisteredSender:
    return RegisteredSender(row.sender, int(row.org_id), row.created_at)


async def insert_sender(
    conn: AsyncConnection, key: str, sender: str, org_id: int, now: datetime
) -> None:
    """Register a sender; the primary key on its key refuses a second owner."""
    await execute(
        conn, insert(senders).values(sender_key=key, sender=sender, org_id=org_id, created_at=now)
    )


async def select_sender(conn: AsyncConnection, key: str) -> RegisteredSender | None:
    """The registration of one sender key, if any."""
    row = (await execute(conn, select(senders).where(senders.c.sender_key == key))).one_or_none()
    return None if row is None else _to_sender(row)


async def select_senders(conn: AsyncConnection, org_id: int | None) -> list[RegisteredSender]:
    """Registered senders (of one organization, or all), by organization then sender key."""
    query = select(senders).order_by(senders.c.org_id, senders.c.sender_key)
    if org_id is not None:
        query = query.where(senders.c.org_id == org_id)
    return [_to_sender(r) for r in await execute(conn, query)]


# Built once: every batch of sends looks its sender IDs up here.
_OWNERS = select(senders.c.sender_key, senders.c.org_id).where(
    senders.c.sender_key.in_(bindparam("keys", expanding=True))
)


async def select_owners(conn: AsyncConnection, keys: Iterable[str]) -> dict[str, int]:
    """The owning organization of each of these keys that is registered."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    rows = await execute(conn, _OWNERS, {"keys": wanted})
    return {str(r.sender_key): int(r.org_id) for r in rows}


async def delete_sender(conn: AsyncConnection, key: str) -> bool:
    """Forget a registration; whether there was one."""
    result = await execute(conn, delete(senders).where(senders.c.sender_key == key))
    return int(result.rowcount) > 0
