"""Channel health shared across processes: worker processes write it, the API and CLI read it.

A channel's live state (bound or not, parts in flight, counters) sits in the memory of the
worker process that runs it. Each worker writes it to `channel_status` every
STATUS_WRITE_INTERVAL, so a `tambuli serve --no-workers` process or the CLI can show it. Rows
not refreshed for STALE_AFTER are shown as stale (the process was killed, or is stuck); rows of
a process that stops cleanly are removed, and rows untouched for FORGET_AFTER are pruned.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select

from tambuli.channels.base import ChannelHealth, LinkState
from tambuli.db.engine import Database
from tambuli.db.schema import channel_status
from tambuli.db.statements import execute, execute_many

STATUS_WRITE_INTERVAL = timedelta(seconds=5)
STALE_AFTER = 3 * STATUS_WRITE_INTERVAL
FORGET_AFTER = timedelta(days=1)


@dataclass(frozen=True)
class ReportedHealth:
    """A channel's health as one worker process last wrote it."""

    process: str
    health: ChannelHealth
    started_at: datetime
    updated_at: datetime
    stale: bool


def name_this_process() -> str:
    """How this process is named in channel_status: host and process ID."""
    return f"{socket.gethostname()}:{os.getpid()}"


async def write_channel_health(
    db: Database,
    now: datetime,
    process: str,
    started_at: datetime,
    healths: Sequence[ChannelHealth],
) -> None:
    """Replace this process's rows with its channels' health now; prune long-dead rows."""
    rows = [
        {
            "process": process,
            "channel": h.name,
            "kind": h.kind,
            "state": h.state.value,
            "parts_per_second": h.parts_per_second,
            "window": h.window,
            "in_flight": h.in_flight,
            "parts_sent": h.parts_sent,
            "parts_refused": h.parts_refused,
            "throttled": h.throttled,
            "reconnects": h.reconnects,
            "last_error": h.last_error,
            "started_at": started_at,
            "updated_at": now,
        }
        for h in healths
    ]
    async with db.write() as conn:
        await execute(conn, delete(channel_status).where(channel_status.c.process == process))
        await execute(
            conn, delete(channel_status).where(channel_status.c.updated_at < now - FORGET_AFTER)
        )
        if rows:
            await execute_many(conn, insert(channel_status), rows)


async def forget_process(db: Database, process: str) -> None:
    """Remove a cleanly stopped process's rows."""
    async with db.write() as conn:
        await execute(conn, delete(channel_status).where(channel_status.c.process == process))


async def read_channel_health(db: Database, now: datetime) -> list[ReportedHealth]:
    """Every process's channels, by channel name then process."""
    async with db.read() as conn:
        rows = (
            await execute(
                conn,
                select(channel_status).order_by(channel_status.c.channel, channel_status.c.process),
            )
        ).all()
    return [
        ReportedHealth(
            process=row.process,
            health=ChannelHealth(
                name=row.channel,
                kind=row.kind,
                state=_read_state(row.state),
                parts_per_second=float(row.parts_per_second),
                window=int(row.window),
                in_flight=int(row.in_flight),
                parts_sent=int(row.parts_sent),
                parts_refused=int(row.parts_refused),
                throttled=int(row.throttled),
                reconnects=int(row.reconnects),
                last_error=row.last_error,
            ),
            started_at=row.started_at,
            updated_at=row.updated_at,
            stale=row.updated_at < now - STALE_AFTER,
        )
        for row in rows
    ]


def _read_state(text: str) -> LinkState:
    try:
        return LinkState(text)
    except ValueError:
        return LinkState.DOWN
