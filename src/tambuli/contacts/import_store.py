"""SQL for the console's pending contact imports (the contact_imports table)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.db.schema import contact_imports
from tambuli.db.statements import execute

# Everything but the file itself: what the pages and the progress bar read.
_SUMMARY = [c for c in contact_imports.c if c.name != "data"]


async def insert_import(conn: AsyncConnection, values: Mapping[str, Any]) -> None:
    """Store a new upload."""
    await execute(conn, insert(contact_imports).values(**values))


async def select_import(conn: AsyncConnection, org_id: int, token: str) -> Row[Any] | None:
    """The organization's import with this token, without its file."""
    found = await execute(
        conn,
        select(*_SUMMARY).where(contact_imports.c.id == token, contact_imports.c.org_id == org_id),
    )
    return found.first()


async def select_import_data(conn: AsyncConnection, org_id: int, token: str) -> bytes | None:
    """The uploaded file of the organization's import."""
    found = await execute(
        conn,
        select(contact_imports.c.data).where(
            contact_imports.c.id == token, contact_imports.c.org_id == org_id
        ),
    )
    data = found.scalar_one_or_none()
    return None if data is None else bytes(data)


async def update_import(
    conn: AsyncConnection,
    org_id: int,
    token: str,
    values: Mapping[str, Any],
    *,
    in_state: str | None = None,
) -> bool:
    """Change an import (only while it is `in_state`, if given); whether it changed."""
    query = update(contact_imports).where(
        contact_imports.c.id == token, contact_imports.c.org_id == org_id
    )
    if in_state is not None:
        query = query.where(contact_imports.c.state == in_state)
    changed = await execute(conn, query.values(**values))
    return changed.rowcount == 1


async def delete_expired_imports(conn: AsyncConnection, now: datetime) -> None:
    """Forget every import (of any organization) past its expiry."""
    await execute(conn, delete(contact_imports).where(contact_imports.c.expires_at <= now))


async def delete_oldest_idle_imports(conn: AsyncConnection, org_id: int, keep: int) -> None:
    """Keep at most `keep` of the organization's imports that are not running, newest first."""
    idle = await execute(
        conn,
        select(contact_imports.c.id)
        .where(contact_imports.c.org_id == org_id, contact_imports.c.state != "running")
        .order_by(contact_imports.c.created_at.desc(), contact_imports.c.id)
        .offset(keep),
    )
    tokens = [r[0] for r in idle]
    if tokens:
        await execute(conn, delete(contact_imports).where(contact_imports.c.id.in_(tokens)))


async def count_running_imports(conn: AsyncConnection, org_id: int, since: datetime) -> int:
    """How many of the organization's imports are running and wrote progress after `since`."""
    found = await execute(
        conn,
        select(contact_imports.c.id).where(
            contact_imports.c.org_id == org_id,
            contact_imports.c.state == "running",
            contact_imports.c.updated_at > since,
        ),
    )
    return len(found.all())
