"""SQL for webhook deliveries: the rows that are the push queue."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.db.claims import DueRows, claim_due_rows, count_queued_rows
from tambuli.db.schema import webhook_deliveries
from tambuli.db.statements import execute, execute_many
from tambuli.webhooks.models import DeliveryStatus, NewPush, PushRecord, PushResult


@dataclass(frozen=True)
class Push:
    """One push to deliver."""

    id: int
    org_id: int
    url: str
    event: str
    payload: str
    attempts: int
    give_up_at: datetime


async def insert_pushes(
    conn: AsyncConnection, now: datetime, give_up_at: datetime, pushes: Sequence[NewPush]
) -> None:
    """Queue pushes due at once, tried until `give_up_at`."""
    if not pushes:
        return
    rows = [
        {
            "org_id": p.org_id,
            "url": p.url,
            "event": p.event,
            "payload": json.dumps(p.payload, separators=(",", ":"), ensure_ascii=False),
            "status": DeliveryStatus.PENDING.value,
            "attempts": 0,
            "next_attempt_at": now,
            "give_up_at": give_up_at,
            "last_error": "",
            "created_at": now,
            "subject_id": _subject_of(p.payload),
        }
        for p in pushes
    ]
    await execute_many(conn, insert(webhook_deliveries), rows)


def _subject_of(payload: dict[str, Any]) -> str | None:
    """The ID of the message or top-up a push reports, when it has one that fits the column."""
    subject = payload.get("id")
    return subject if isinstance(subject, str) and len(subject) <= 100 else None


_DUE_PUSHES = DueRows(
    webhook_deliveries,
    webhook_deliveries.c.next_attempt_at,
    where=(webhook_deliveries.c.status == DeliveryStatus.PENDING.value,),
    returning=(
        webhook_deliveries.c.id,
        webhook_deliveries.c.org_id,
        webhook_deliveries.c.url,
        webhook_deliveries.c.event,
        webhook_deliveries.c.payload,
        webhook_deliveries.c.attempts,
        webhook_deliveries.c.give_up_at,
    ),
    leased=("lease_until",),
)


async def claim_due_pushes(
    conn: AsyncConnection, now: datetime, lease_until: datetime, limit: int, skip_locked: bool
) -> list[Push]:
    """Take up to `limit` due pushes; they come due again at `lease_until` if not recorded."""
    rows = await claim_due_rows(
        conn, _DUE_PUSHES, now=now, lease_until=lease_until, limit=limit, skip_locked=skip_locked
    )
    return [
        Push(
            id=int(r.id),
            org_id=int(r.org_id),
            url=r.url,
            event=r.event,
            payload=r.payload,
            attempts=int(r.attempts),
            give_up_at=r.give_up_at,
        )
        for r in rows
    ]


_RECORD_PUSH_RESULT = (
    update(webhook_deliveries)
    .where(
        webhook_deliveries.c.id == bindparam("push_id"),
        webhook_deliveries.c.lease_until == bindparam("lease"),
    )
    .values(
        status=bindparam("status"),
        attempts=bindparam("attempts"),
        next_attempt_at=bindparam("next_at"),
        lease_until=None,
        last_error=bindparam("error"),
        delivered_at=bindparam("delivered_at"),
    )
)


async def record_push_results(conn: AsyncConnection, results: Sequence[PushResult]) -> None:
    """Store what became of each attempt.

    Only a push still under the claim it was attempted under is updated: a worker that outlived
    its claim must not overwrite what the worker that took over recorded.
    """
    if not results:
        return
    await execute_many(
        conn,
        _RECORD_PUSH_RESULT,
        [
            {
                "push_id": r.push_id,
                "lease": r.lease_until,
                "status": r.status.value,
                "attempts": r.attempts,
                "next_at": r.next_attempt_at,
                "error": r.error,
                "delivered_at": r.delivered_at,
            }
            for r in results
        ],
    )


async def select_pushes(conn: AsyncConnection, org_id: int, limit: int) -> list[dict[str, Any]]:
    """The organization's newest pushes, newest first, for operators."""
    rows = await execute(
        conn,
        select(webhook_deliveries)
        .where(webhook_deliveries.c.org_id == org_id)
        .order_by(webhook_deliveries.c.id.desc())
        .limit(limit),
    )
    return [dict(r._mapping) for r in rows]


async def select_pushes_about(
    conn: AsyncConnection, org_id: int, subject_id: str, limit: int
) -> list[PushRecord]:
    """The organization's pushes about one subject, oldest first."""
    t = webhook_deliveries.c
    rows = await execute(
        conn,
        select(t.event, t.url, t.status, t.attempts, t.last_error, t.created_at, t.delivered_at)
        .where(t.org_id == org_id, t.subject_id == subject_id)
        .order_by(t.id)
        .limit(limit),
    )
    return [PushRecord(**dict(r._mapping)) for r in rows]


async def count_pending_pushes(conn: AsyncConnection, now: datetime) -> dict[str, int]:
    """Pushes not yet delivered nor given up (the backlog), by state (see db/claims.py)."""
    return await count_queued_rows(conn, _DUE_PUSHES, now=now)
