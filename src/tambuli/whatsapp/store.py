"""SQL for WhatsApp messages, their files, clientDedup keys, the queue and early statuses."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.channels.whatsapp.base import MediaKind
from tambuli.db.claims import DueRows, claim_due_rows
from tambuli.db.schema import (
    whatsapp_dedup,
    whatsapp_message_files,
    whatsapp_messages,
)
from tambuli.db.statements import execute, execute_many
from tambuli.messaging.models import Direction, MessageStatus
from tambuli.messaging.store import MessageFilter, filter_messages_clause
from tambuli.records import frozen_record
from tambuli.whatsapp.models import NewWhatsApp
from tambuli.whatsapp.views import StoredWhatsApp

t = whatsapp_messages


def _load_json(text: str) -> Any:
    return json.loads(text) if text else None


def _to_stored(row: Any, media: tuple[tuple[MediaKind, str], ...]) -> StoredWhatsApp:
    return StoredWhatsApp(
        id=int(row.id),
        org_id=int(row.org_id),
        direction=Direction(row.direction),
        contact_id=None if row.contact_id is None else int(row.contact_id),
        sender=row.sender,
        recipient=row.recipient,
        body=row.body,
        content=_load_json(row.content),
        location=_load_json(row.location),
        media=media,
        price_micro=int(row.price_micro),
        charged_micro=int(row.charged_micro),
        client_ref=row.client_ref,
        client_dedup=row.client_dedup,
        client_push_url=row.client_push_url,
        status=MessageStatus(row.status),
        state=row.state,
        error=row.error,
        delivery_error=row.delivery_error,
        attempts=int(row.attempts),
        deadline_at=row.deadline_at,
        handed_at=row.handed_at,
        sent_at=row.sent_at,
        delivered_at=row.delivered_at,
        read_at=row.read_at,
        failed_at=row.failed_at,
        created_at=row.created_at,
    )


# Built once: statements built anew for every send cost more than running them (see
# db/statements.py).
_MEDIA_OF = (
    select(whatsapp_message_files)
    .where(whatsapp_message_files.c.message_id.in_(bindparam("ids", expanding=True)))
    .order_by(whatsapp_message_files.c.message_id, whatsapp_message_files.c.position)
)
_BY_IDS = select(t).where(t.c.id.in_(bindparam("ids", expanding=True))).order_by(t.c.id)
_INSERT_MESSAGE = insert(t).returning(t.c.id, sort_by_parameter_order=True)
_INSERT_FILE = insert(whatsapp_message_files)
_INSERT_DEDUP = insert(whatsapp_dedup)
_DEDUP_ID = select(whatsapp_dedup.c.message_id).where(
    whatsapp_dedup.c.org_id == bindparam("org_id"),
    whatsapp_dedup.c.client_dedup == bindparam("key"),
)
_DEDUP_IDS = select(whatsapp_dedup.c.client_dedup, whatsapp_dedup.c.message_id).where(
    whatsapp_dedup.c.org_id == bindparam("org_id"),
    whatsapp_dedup.c.client_dedup.in_(bindparam("keys", expanding=True)),
)


async def _with_media(conn: AsyncConnection, rows: Sequence[Any]) -> list[StoredWhatsApp]:
    ids = [int(r.id) for r in rows]
    media: dict[int, list[tuple[MediaKind, str]]] = defaultdict(list)
    if ids:
        for f in await execute(conn, _MEDIA_OF, {"ids": ids}):
            media[int(f.message_id)].append((MediaKind(f.kind), f.filename))
    return [_to_stored(r, tuple(media[int(r.id)])) for r in rows]


def _message_row(values: dict[str, Any]) -> dict[str, Any]:
    row = dict(values)
    for name in ("content", "location"):
        value = row.get(name)
        row[name] = "" if value is None else json.dumps(value, ensure_ascii=False)
    return row


async def insert_message(
    conn: AsyncConnection, values: dict[str, Any], media: Sequence[tuple[MediaKind, str]]
) -> StoredWhatsApp:
    """Store a message (outbound or inbound) with the files it carries."""
    [stored] = await insert_messages(conn, [values], [media])
    return stored


async def insert_outbound_messages(
    conn: AsyncConnection,
    messages: Sequence[NewWhatsApp],
    reservation_ids: Sequence[int],
    media: Sequence[Sequence[tuple[MediaKind, str]]],
) -> list[StoredWhatsApp]:
    """Queue outbound messages, each with its reservation and files; as stored, in order."""
    rows = [
        _outbound_row(message, reservation_id)
        for message, reservation_id in zip(messages, reservation_ids, strict=True)
    ]
    return await insert_messages(conn, rows, media)


def _outbound_row(message: NewWhatsApp, reservation_id: int) -> dict[str, Any]:
    return {
        "org_id": message.org_id,
        "direction": Direction.EGRESS.value,
        "contact_id": message.contact_id,
        "sender": message.sender,
        "recipient": message.recipient,
        "body": message.body,
        "content": message.content,
        "price_micro": message.price_micro,
        "reservation_id": reservation_id,
        "client_ref": message.client_ref,
        "client_dedup": message.client_dedup,
        "client_push_url": message.client_push_url,
        "status": MessageStatus.QUEUED.value,
        "next_attempt_at": message.created_at,
        "deadline_at": message.deadline_at,
        "campaign_run_id": message.campaign_run_id,
        "created_at": message.created_at,
        "updated_at": message.created_at,
    }


async def insert_messages(
    conn: AsyncConnection,
    rows: Sequence[dict[str, Any]],
    media: Sequence[Sequence[tuple[MediaKind, str]]],
) -> list[StoredWhatsApp]:
    """Store messages (each row with the same columns) with the files each carries; the
    messages as stored, in the order given."""
    if not rows:
        return []
    # One insert per set of columns: an executemany binds the same columns in every row.
    by_columns: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for index, values in enumerate(rows):
        by_columns[tuple(values)].append(index)
    row_ids: list[int] = [0] * len(rows)
    for indexes in by_columns.values():
        found = await execute_many(conn, _INSERT_MESSAGE, [_message_row(rows[i]) for i in indexes])
        for index, row_id in zip(indexes, found.scalars(), strict=True):
            row_ids[index] = int(row_id)
    files = [
        {
            "message_id": row_id,
            "position": position,
            "org_id": values["org_id"],
            "kind": kind.value,
            "filename": filename,
        }
        for row_id, values, carried in zip(row_ids, rows, media, strict=True)
        for position, (kind, filename) in enumerate(carried)
    ]
    if files:
        await execute_many(conn, _INSERT_FILE, files)
    stored = {m.id: m for m in await select_messages_by_ids(conn, row_ids)}
    return [stored[row_id] for row_id in row_ids]


async def insert_dedup_keys(conn: AsyncConnection, keys: Sequence[tuple[int, str, int]]) -> None:
    """Remember the clientDedup keys (org_id, key, message row ID) of messages; the primary
    key refuses a second use."""
    if keys:
        await execute_many(
            conn,
            _INSERT_DEDUP,
            [{"org_id": o, "client_dedup": k, "message_id": m} for o, k, m in keys],
        )


async def select_message_by_dedup(
    conn: AsyncConnection, org_id: int, key: str
) -> StoredWhatsApp | None:
    """The message that took a clientDedup key."""
    row_id = (await execute(conn, _DEDUP_ID, {"org_id": org_id, "key": key})).scalar()
    if row_id is None:
        return None
    found = await select_messages_by_ids(conn, [int(row_id)])
    return found[0] if found else None


async def select_messages_by_dedup_keys(
    conn: AsyncConnection, keys: set[tuple[int, str]]
) -> dict[tuple[int, str], StoredWhatsApp]:
    """The messages that first used any of these (org_id, clientDedup) keys."""
    taken: dict[int, tuple[int, str]] = {}
    for org_id in sorted({org for org, _ in keys}):
        wanted = sorted(key for org, key in keys if org == org_id)
        for row in await execute(conn, _DEDUP_IDS, {"org_id": org_id, "keys": wanted}):
            taken[int(row.message_id)] = (org_id, row.client_dedup)
    found = await select_messages_by_ids(conn, sorted(taken))
    return {taken[m.id]: m for m in found}


async def select_messages_by_ids(
    conn: AsyncConnection, row_ids: Sequence[int]
) -> list[StoredWhatsApp]:
    """Messages by row ID, in ID order."""
    if not row_ids:
        return []
    rows = (await execute(conn, _BY_IDS, {"ids": list(row_ids)})).all()
    return await _with_media(conn, rows)


async def select_message(conn: AsyncConnection, org_id: int, row_id: int) -> StoredWhatsApp | None:
    """One message of an organization."""
    rows = (await execute(conn, select(t).where(t.c.org_id == org_id, t.c.id == row_id))).all()
    found = await _with_media(conn, rows)
    return found[0] if found else None


async def select_messages_before(
    conn: AsyncConnection, org_id: int, wanted: MessageFilter, before_id: int | None, limit: int
) -> list[StoredWhatsApp]:
    """Newest first, keyset-paged: messages with an ID below `before_id` (all when None)."""
    clause = filter_messages_clause(t, org_id, wanted, (t.c.content,))
    if before_id is not None:
        clause = and_(clause, t.c.id < before_id)
    rows = (await execute(conn, select(t).where(clause).order_by(t.c.id.desc()).limit(limit))).all()
    return await _with_media(conn, rows)


async def select_messages_page(
    conn: AsyncConnection, org_id: int, wanted: MessageFilter, offset: int, limit: int
) -> list[StoredWhatsApp]:
    """Newest first, classic paging."""
    rows = (
        await execute(
            conn,
            select(t)
            .where(filter_messages_clause(t, org_id, wanted, (t.c.content,)))
            .order_by(t.c.id.desc())
            .offset(offset)
            .limit(limit),
        )
    ).all()
    return await _with_media(conn, rows)


@frozen_record
class ClaimedWhatsApp:
    """A due WhatsApp message a worker has taken, with what delivery needs to know."""

    id: int
    org_id: int
    sender: str
    recipient: str
    body: str
    content: str
    attempts: int
    deadline_at: datetime
    reservation_id: int | None
    price_micro: int
    client_push_url: str
    error: str


_DUE = DueRows(
    t,
    t.c.next_attempt_at,
    where=(t.c.status == MessageStatus.QUEUED.value,),
    returning=(
        t.c.id,
        t.c.org_id,
        t.c.sender,
        t.c.recipient,
        t.c.body,
        t.c.content,
        t.c.attempts,
        t.c.deadline_at,
        t.c.reservation_id,
        t.c.price_micro,
        t.c.client_push_url,
        t.c.error,
    ),
    leased=("lease_until",),
)


async def claim_due_messages(
    conn: AsyncConnection, now: datetime, lease_until: datetime, limit: int, skip_locked: bool
) -> list[ClaimedWhatsApp]:
    """Take up to `limit` due messages, oldest due first (see db/claims.py for the lease)."""
    rows = await claim_due_rows(
        conn, _DUE, now=now, lease_until=lease_until, limit=limit, skip_locked=skip_locked
    )
    return [
        ClaimedWhatsApp(
            id=int(r.id),
            org_id=int(r.org_id),
            sender=r.sender,
            recipient=r.recipient,
            body=r.body,
            content=r.content,
            attempts=int(r.attempts),
            deadline_at=r.deadline_at,
            reservation_id=None if r.reservation_id is None else int(r.reservation_id),
            price_micro=int(r.price_micro),
            client_push_url=r.client_push_url,
            error=r.error,
        )
        for r in rows
    ]


async def select_media_of(
    conn: AsyncConnection, row_ids: Sequence[int]
) -> dict[int, list[tuple[MediaKind, str]]]:
    """The files each message carries, in order."""
    found: dict[int, list[tuple[MediaKind, str]]] = defaultdict(list)
    if not row_ids:
        return found
    rows = await execute(
        conn,
        select(whatsapp_message_files)
        .where(whatsapp_message_files.c.message_id.in_(list(row_ids)))
        .order_by(whatsapp_message_files.c.message_id, whatsapp_message_files.c.position),
    )
    for r in rows:
        found[int(r.message_id)].append((MediaKind(r.kind), r.filename))
    return found


async def select_still_claimed(
    conn: AsyncConnection, ids: Sequence[int], lease_until: datetime
) -> set[int]:
    """Which of these messages are still queued under this very claim (locked till commit)."""
    if not ids:
        return set()
    rows = await execute(
        conn,
        select(t.c.id)
        .where(
            t.c.id.in_(sorted(ids)),
            t.c.status == MessageStatus.QUEUED.value,
            t.c.lease_until == lease_until,
        )
        .with_for_update(),
    )
    return {int(r.id) for r in rows}


async def update_messages(
    conn: AsyncConnection, changes: Sequence[tuple[int, dict[str, Any]]]
) -> None:
    """Apply each (row ID, column values) change."""
    for row_id, values in changes:
        await execute(conn, update(t).where(t.c.id == row_id).values(**values))


async def inbound_exists(conn: AsyncConnection, channel: str, operator_event_id: str) -> bool:
    """Whether an inbound message with this provider ID was stored already."""
    found = await execute(
        conn,
        select(t.c.id).where(
            t.c.channel == channel,
            t.c.operator_message_id == operator_event_id,
            t.c.direction == Direction.INGRESS.value,
        ),
    )
    return found.first() is not None


async def any_unhandled_inbound(conn: AsyncConnection, now: datetime) -> bool:
    """Whether some inbound WhatsApp message waits for the campaigns (a read before a write)."""
    found = await execute(
        conn,
        select(t.c.id)
        .where(t.c.status == MessageStatus.RECEIVED.value, t.c.next_attempt_at <= now)
        .limit(1),
    )
    return found.first() is not None


async def take_unhandled_inbound(
    conn: AsyncConnection, now: datetime, limit: int, skip_locked: bool
) -> list[Any]:
    """Take inbound messages due for the campaigns, oldest first, and mark them handled; the
    caller handles them in the same transaction (if it fails, they are due again)."""
    due = (
        select(t.c.id)
        .where(t.c.status == MessageStatus.RECEIVED.value, t.c.next_attempt_at <= now)
        .order_by(t.c.next_attempt_at, t.c.id)
        .limit(limit)
    )
    if skip_locked:
        due = due.with_for_update(skip_locked=True)
    rows = await execute(
        conn,
        update(t)
        .where(t.c.id.in_(due.scalar_subquery()))
        .values(next_attempt_at=None)
        .returning(t.c.id, t.c.org_id, t.c.sender, t.c.body, t.c.created_at),
    )
    return sorted(rows, key=lambda row: int(row.id))
