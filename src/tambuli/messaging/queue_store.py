"""SQL for the delivery queue: claiming due messages and recording what operators said."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime

from sqlalchemy import Table, and_, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.db.claims import DueRows, claim_due_rows, count_queued_rows
from tambuli.db.schema import messages
from tambuli.db.statements import execute, execute_many
from tambuli.messaging.models import DeliveryError, MessageStatus
from tambuli.records import frozen_record


@frozen_record
class ClaimedMessage:
    """A due message a worker has taken, with what delivery needs to know."""

    id: int
    org_id: int
    sender: str
    recipient: str
    body: str
    encoding: str
    parts: int
    attempts: int
    deadline_at: datetime
    reservation_id: int | None
    price_per_part_micro: int
    client_push_url: str
    error: str


_DUE_MESSAGES = DueRows(
    messages,
    messages.c.next_attempt_at,
    where=(messages.c.status == MessageStatus.QUEUED.value,),
    returning=tuple(messages.c[f.name] for f in fields(ClaimedMessage)),
    leased=("lease_until",),
)


_SELECT_RECENT_HANDOFFS = select(messages.c.recipient, messages.c.handed_at).where(
    messages.c.recipient.in_(bindparam("recipient", expanding=True)),
    messages.c.handed_at > bindparam("since"),
)
# Locked until commit (PostgreSQL), so no takeover can slip in between this check and the
# updates that follow it.
_SELECT_STILL_CLAIMED = (
    select(messages.c.id)
    .where(
        messages.c.id.in_(bindparam("id", expanding=True)),
        messages.c.status == MessageStatus.QUEUED.value,
        messages.c.lease_until == bindparam("lease_until"),
    )
    .with_for_update()
)
_APPLY_RECEIPT = (
    update(messages)
    .where(
        messages.c.channel == bindparam("channel"),
        messages.c.operator_message_id.in_(bindparam("operator_id", expanding=True)),
        messages.c.receipt == "unknown",
    )
    .values(
        receipt=bindparam("receipt"),
        delivery_error=bindparam("error"),
        updated_at=bindparam("now"),
    )
    .returning(
        messages.c.id,
        messages.c.operator_message_id,
        messages.c.client_push_url,
        messages.c.handed_at,
    )
)


async def claim_due_messages(
    conn: AsyncConnection, now: datetime, lease_until: datetime, limit: int, skip_locked: bool
) -> list[ClaimedMessage]:
    """Take up to `limit` due messages, oldest due first (see db/claims.py for the lease)."""
    rows = await claim_due_rows(
        conn,
        _DUE_MESSAGES,
        now=now,
        lease_until=lease_until,
        limit=limit,
        skip_locked=skip_locked,
    )
    # Rows come in ClaimedMessage's field order, and both drivers give ints for the integer
    # columns: each row is the message as it is.
    return [ClaimedMessage(*r) for r in rows]


async def select_recent_handoffs(
    conn: AsyncConnection, recipients: Sequence[str], since: datetime
) -> dict[str, list[datetime]]:
    """Times of hand-offs to each recipient after `since`."""
    found: dict[str, list[datetime]] = defaultdict(list)
    if not recipients:
        return found
    rows = await execute(conn, _SELECT_RECENT_HANDOFFS, {"recipient": recipients, "since": since})
    for r in rows:
        found[r.recipient].append(r.handed_at)
    return found


async def select_still_claimed(
    conn: AsyncConnection, ids: Sequence[int], lease_until: datetime
) -> set[int]:
    """Which of these messages are still queued under this very claim.

    A worker that was too slow may find its claim expired and the message taken over; it must
    then record nothing for that message.
    """
    if not ids:
        return set()
    rows = await execute(conn, _SELECT_STILL_CLAIMED, {"id": ids, "lease_until": lease_until})
    return {int(r.id) for r in rows}


# The statements that record a dispatch batch, one row each (see db/statements.py).
_MARK_ACCEPTED = (
    update(messages)
    .where(messages.c.id == bindparam("mid"))
    .values(
        status=MessageStatus.ACCEPTED.value,
        channel=bindparam("channel"),
        operator_message_id=bindparam("operator_id"),
        handed_at=bindparam("now"),
        attempts=messages.c.attempts + 1,
        success_parts=bindparam("parts"),
        success_at=bindparam("now"),
        charged_micro=bindparam("charged"),
        error="",
        next_attempt_at=None,
        lease_until=None,
        updated_at=bindparam("now"),
    )
)
_MARK_RETRY = (
    update(messages)
    .where(messages.c.id == bindparam("mid"))
    .values(
        channel=bindparam("channel"),
        handed_at=bindparam("now"),
        attempts=messages.c.attempts + 1,
        error=bindparam("error"),
        next_attempt_at=bindparam("next_at"),
        lease_until=None,
        updated_at=bindparam("now"),
    )
)
_MARK_DEFERRED = (
    update(messages)
    .where(messages.c.id == bindparam("mid"))
    .values(
        next_attempt_at=bindparam("next_at"),
        lease_until=None,
        updated_at=bindparam("now"),
    )
)
_MARK_FAILED = (
    update(messages)
    .where(messages.c.id == bindparam("mid"))
    .values(
        status=MessageStatus.FAILED.value,
        channel=bindparam("channel"),
        attempts=messages.c.attempts + bindparam("attempted"),
        error=bindparam("error"),
        delivery_error=bindparam("delivery_error"),
        charged_micro=0,
        next_attempt_at=None,
        lease_until=None,
        updated_at=bindparam("now"),
    )
)


@frozen_record(slots=True)
class Accepted:
    """An operator took the message: it is charged for the parts it counts as sent."""

    message: ClaimedMessage
    channel: str
    operator_message_id: str
    parts: int
    charged_micro: int


@frozen_record(slots=True)
class Retry:
    """The channel refused the message for now: it is handed off again at `next_attempt_at`."""

    message: ClaimedMessage
    channel: str
    error: str
    next_attempt_at: datetime


@frozen_record(slots=True)
class Failed:
    """The message failed for good: refused, unroutable or out of time."""

    message: ClaimedMessage
    # "" when no channel took part (no route, or the deadline passed before a hand-off).
    channel: str
    error: str
    delivery_error: DeliveryError | None
    # Whether it was handed off in this batch (one whose deadline passed while queued was not).
    attempted: bool


@frozen_record(slots=True)
class Deferred:
    """Pacing held the message back until `next_attempt_at`; no attempt is counted."""

    message: ClaimedMessage
    next_attempt_at: datetime


DispatchRecord = Accepted | Retry | Failed | Deferred


async def record_dispatch(
    conn: AsyncConnection, now: datetime, records: Sequence[DispatchRecord]
) -> None:
    """Write what became of each claimed message at `now`, in the caller's transaction."""
    accepted = [_accepted_row(r, now) for r in records if isinstance(r, Accepted)]
    retry = [_retry_row(r, now) for r in records if isinstance(r, Retry)]
    failed = [_failed_row(r, now) for r in records if isinstance(r, Failed)]
    deferred = [_deferred_row(r, now) for r in records if isinstance(r, Deferred)]
    await execute_many(conn, _MARK_ACCEPTED, accepted)
    await execute_many(conn, _MARK_RETRY, retry)
    await execute_many(conn, _MARK_FAILED, failed)
    await execute_many(conn, _MARK_DEFERRED, deferred)


def _accepted_row(r: Accepted, now: datetime) -> dict[str, object]:
    return {
        "mid": r.message.id,
        "channel": r.channel,
        "operator_id": r.operator_message_id,
        "parts": r.parts,
        "charged": r.charged_micro,
        "now": now,
    }


def _retry_row(r: Retry, now: datetime) -> dict[str, object]:
    return {
        "mid": r.message.id,
        "channel": r.channel,
        "error": r.error,
        "next_at": r.next_attempt_at,
        "now": now,
    }


def _failed_row(r: Failed, now: datetime) -> dict[str, object]:
    return {
        "mid": r.message.id,
        "channel": r.channel,
        "error": r.error,
        "delivery_error": "" if r.delivery_error is None else r.delivery_error.value,
        "attempted": int(r.attempted),
        "now": now,
    }


def _deferred_row(r: Deferred, now: datetime) -> dict[str, object]:
    return {"mid": r.message.id, "next_at": r.next_attempt_at, "now": now}


async def apply_receipts(
    conn: AsyncConnection,
    channel: str,
    operator_message_ids: Sequence[str],
    receipt: str,
    delivery_error: str,
    now: datetime,
) -> list[tuple[int, str, str, datetime | None]]:
    """Record one kind of receipt on the messages it belongs to, once each.

    Returns (row ID, operator message ID, push URL, hand-off time) of each message that
    changed; receipts for unknown or already receipted messages change nothing.
    """
    if not operator_message_ids:
        return []
    rows = await execute(
        conn,
        _APPLY_RECEIPT,
        {
            "operator_id": operator_message_ids,
            "channel": channel,
            "receipt": receipt,
            "error": delivery_error,
            "now": now,
        },
    )
    return [(int(r.id), r.operator_message_id, r.client_push_url, r.handed_at) for r in rows]


async def select_known_operator_ids(
    conn: AsyncConnection, channel: str, operator_message_ids: Sequence[str]
) -> set[str]:
    """Which of these operator message IDs a message of the channel carries."""
    rows = await execute(
        conn,
        select(messages.c.operator_message_id).where(
            messages.c.channel == channel,
            messages.c.operator_message_id.in_(list(operator_message_ids)),
        ),
    )
    return {r.operator_message_id for r in rows}


async def fail_queued_messages_of_runs(
    conn: AsyncConnection, table: Table, run_ids: Sequence[int], now: datetime, error: str
) -> list[int]:
    """Fail the campaign runs' messages on `table` (SMS or WhatsApp: they share these columns)
    still waiting (not held by a worker's claim right now); returns their reservation IDs to
    release."""
    if not run_ids:
        return []
    c = table.c
    held = and_(c.lease_until.is_not(None), c.lease_until > now)
    rows = await execute(
        conn,
        update(table)
        .where(
            c.campaign_run_id.in_(sorted(set(run_ids))),
            c.status == MessageStatus.QUEUED.value,
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
        .returning(c.reservation_id),
    )
    return [int(r) for r in rows.scalars() if r is not None]


async def count_queued_messages(conn: AsyncConnection, now: datetime) -> dict[str, int]:
    """Outbound messages waiting for a hand-off, by state (see db/claims.py)."""
    return await count_queued_rows(conn, _DUE_MESSAGES, now=now)
