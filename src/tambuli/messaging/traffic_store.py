"""SQL for an organization's SMS traffic per UTC day (the console's dashboard)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, String, case, func, literal_column, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.db.schema import message_day_totals, messages
from tambuli.db.statements import execute


def _utc_day(conn: AsyncConnection) -> ColumnElement[Any]:
    """The UTC day (YYYY-MM-DD) of a message's created_at, in the connection's dialect."""
    if conn.dialect.name == "postgresql":
        return func.to_char(
            func.timezone(literal_column("'UTC'"), messages.c.created_at), "YYYY-MM-DD"
        )
    # SQLite stores UTCDateTime as "YYYY-MM-DD HH:MM:SS.ffffff" in UTC.
    return func.substr(messages.c.created_at, 1, 10, type_=String)


async def select_daily_counts(
    conn: AsyncConnection, org_id: int, since: datetime, until: datetime
) -> list[Any]:
    """Per UTC day from `since` to `until`: (day, sent, delivered, failed, inbound, spent)."""
    day = _utc_day(conn).label("day")
    egress = messages.c.direction == "egress"
    rows = await execute(
        conn,
        select(
            day,
            func.sum(case((egress, 1), else_=0)).label("sent"),
            func.sum(case((egress & (messages.c.receipt == "confirmed"), 1), else_=0)).label(
                "delivered"
            ),
            func.sum(
                case(
                    (
                        egress
                        & ((messages.c.status == "failed") | (messages.c.receipt == "failed")),
                        1,
                    ),
                    else_=0,
                )
            ).label("failed"),
            func.sum(case((egress, 0), else_=1)).label("inbound"),
            func.sum(case((egress, messages.c.charged_micro), else_=0)).label("spent"),
        )
        .where(
            messages.c.org_id == org_id,
            messages.c.created_at >= since,
            messages.c.created_at < until,
        )
        .group_by(day),
    )
    return list(rows)


async def select_day_totals(conn: AsyncConnection, org_id: int, first: str, last: str) -> list[Any]:
    """Stored totals of the organization's days from `first` to `last` (YYYY-MM-DD)."""
    rows = await execute(
        conn,
        select(message_day_totals).where(
            message_day_totals.c.org_id == org_id,
            message_day_totals.c.day >= first,
            message_day_totals.c.day <= last,
        ),
    )
    return list(rows)


async def insert_day_totals(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Store day totals; a day another process stored first is left as it is."""
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    await execute(
        conn,
        dialect.insert(message_day_totals)
        .values(rows)
        .on_conflict_do_nothing(
            index_elements=[message_day_totals.c.org_id, message_day_totals.c.day]
        ),
    )
