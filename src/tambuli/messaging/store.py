"""SQL for messages, their clientDedup keys and the delivery queue."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, ColumnElement, Table, and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.channels.base import InboundSms
from tambuli.db.bulk import insert_rows_returning_ids
from tambuli.db.claims import DueRows, any_due_row
from tambuli.db.schema import contacts, message_dedup, messages
from tambuli.db.text_search import escape_like
from tambuli.messaging.models import Direction, MessageStatus
from tambuli.messaging.views import StoredMessage, UnhandledInbound
from tambuli.records import frozen_record

_COLUMNS = (
    messages.c.id,
    messages.c.org_id,
    messages.c.direction,
    messages.c.contact_id,
    messages.c.sender,
    messages.c.recipient,
    messages.c.body,
    messages.c.encoding,
    messages.c.parts,
    messages.c.price_per_part_micro,
    messages.c.charged_micro,
    messages.c.client_ref,
    messages.c.client_dedup,
    messages.c.client_push_url,
    messages.c.status,
    messages.c.receipt,
    messages.c.error,
    messages.c.delivery_error,
    messages.c.attempts,
    messages.c.deadline_at,
    messages.c.handed_at,
    messages.c.success_parts,
    messages.c.success_at,
    messages.c.created_at,
)
# The columns to_stored_message reads, for other stores of the messages table.
MESSAGE_COLUMNS = _COLUMNS


def to_stored_message(row: Any) -> StoredMessage:
    """A message from a row selected with the standard columns."""
    return StoredMessage(
        id=int(row.id),
        org_id=int(row.org_id),
        direction=Direction(row.direction),
        contact_id=None if row.contact_id is None else int(row.contact_id),
        sender=row.sender,
        recipient=row.recipient,
        body=row.body,
        encoding=row.encoding,
        parts=int(row.parts),
        price_per_part_micro=int(row.price_per_part_micro),
        charged_micro=int(row.charged_micro),
        client_ref=row.client_ref,
        client_dedup=row.client_dedup,
        client_push_url=row.client_push_url,
        status=MessageStatus(row.status),
        receipt=row.receipt,
        error=row.error,
        delivery_error=row.delivery_error,
        attempts=int(row.attempts),
        deadline_at=row.deadline_at,
        handed_at=row.handed_at,
        success_parts=int(row.success_parts),
        success_at=row.success_at,
        created_at=row.created_at,
    )


@frozen_record
class NewMessage:
    """The fields of a message being accepted for delivery."""

    org_id: int
    contact_id: int | None
    sender: str
    recipient: str
    body: str
    encoding: str
    parts: int
    price_per_part_micro: int
    client_ref: str
    client_dedup: str
    client_push_url: str
    deadline_at: datetime
    created_at: datetime
    # The campaign run whose step this message is.
    campaign_run_id: int | None = None


def _queued_row(new: NewMessage, reservation_id: int | None) -> dict[str, Any]:
    return {
        "org_id": new.org_id,
        "direction": Direction.EGRESS.value,
        "contact_id": new.contact_id,
        "sender": new.sender,
        "recipient": new.recipient,
        "body": new.body,
        "encoding": new.encoding,
        "parts": new.parts,
        "price_per_part_micro": new.price_per_part_micro,
        "reservation_id": reservation_id,
        "client_ref": new.client_ref,
        "client_dedup": new.client_dedup,
        "client_push_url": new.client_push_url,
        "status": MessageStatus.QUEUED.value,
        "next_attempt_at": new.created_at,
        "deadline_at": new.deadline_at,
        "created_at": new.created_at,
        "updated_at": new.created_at,
        "campaign_run_id": new.campaign_run_id,
    }


async def insert_queued_messages(
    conn: AsyncConnection, news: Sequence[NewMessage], reservation_ids: Sequence[int | None]
) -> list[int]:
    """Store outbound messages, due at once, in one statement; their row IDs in order."""
    rows = [_queued_row(n, r) for n, r in zip(news, reservation_ids, strict=True)]
    return await insert_rows_returning_ids(conn, messages, rows)


async def insert_dedup_keys(conn: AsyncConnection, keys: Sequence[tuple[int, str, int]]) -> None:
    """Claim clientDedup keys (org_id, key, message row ID); the primary key refuses repeats."""
    if keys:
        await conn.execute(
            insert(message_dedup),
            [{"org_id": o, "client_dedup": k, "message_id": m} for o, k, m in keys],
        )


async def select_messages_by_dedup_keys(
    conn: AsyncConnection, keys: set[tuple[int, str]]
) -> dict[tuple[int, str], StoredMessage]:
    """The messages that first used any of these (org_id, clientDedup) keys."""
    found: dict[tuple[int, str], StoredMessage] = {}
    for org_id in {org for org, _ in keys}:
        wanted = sorted(key for org, key in keys if org == org_id)
        rows = await conn.execute(
            select(*_COLUMNS, message_dedup.c.client_dedup.label("dedup_key"))
            .join(message_dedup, message_dedup.c.message_id == messages.c.id)
            .where(message_dedup.c.org_id == org_id, message_dedup.c.client_dedup.in_(wanted))
        )
        for row in rows:
            found[(org_id, row.dedup_key)] = to_stored_message(row)
    return found


async def insert_queued_message(
    conn: AsyncConnection, new: NewMessage, reservation_id: int | None = None
) -> int:
    """Store an outbound message, due at once; returns its row ID."""
    result = await conn.execute(
        insert(messages).values(**_queued_row(new, reservation_id)).returning(messages.c.id)
    )
    return int(result.scalar_one())


def queued_message(row_id: int, new: NewMessage) -> StoredMessage:
    """The message just inserted, as select_message would read it back."""
    return StoredMessage(
        id=row_id,
        org_id=new.org_id,
        direction=Direction.EGRESS,
        contact_id=new.contact_id,
        sender=new.sender,
        recipient=new.recipient,
        body=new.body,
        encoding=new.encoding,
        parts=new.parts,
        price_per_part_micro=new.price_per_part_micro,
        charged_micro=0,
        client_ref=new.client_ref,
        client_dedup=new.client_dedup,
        client_push_url=new.client_push_url,
        status=MessageStatus.QUEUED,
        receipt="unknown",
        error="",
        delivery_error="",
        attempts=0,
        deadline_at=new.deadline_at,
        handed_at=None,
        success_parts=0,
        success_at=None,
        created_at=new.created_at,
    )


async def insert_dedup_key(
    conn: AsyncConnection, org_id: int, client_dedup: str, message_id: int
) -> None:
    """Claim a clientDedup key; the primary key refuses a second claim."""
    await conn.execute(
        insert(message_dedup).values(
            org_id=org_id, client_dedup=client_dedup, message_id=message_id
        )
    )


async def select_message_by_dedup(
    conn: AsyncConnection, org_id: int, client_dedup: str
) -> StoredMessage | None:
    """The message that first used a clientDedup key, if any."""
    row = (
        await conn.execute(
            select(*_COLUMNS)
            .join(message_dedup, message_dedup.c.message_id == messages.c.id)
            .where(message_dedup.c.org_id == org_id, message_dedup.c.client_dedup == client_dedup)
        )
    ).one_or_none()
    return None if row is None else to_stored_message(row)


async def select_message(conn: AsyncConnection, org_id: int, row_id: int) -> StoredMessage | None:
    """One message of the organization."""
    row = (
        await conn.execute(
            select(*_COLUMNS).where(messages.c.id == row_id, messages.c.org_id == org_id)
        )
    ).one_or_none()
    return None if row is None else to_stored_message(row)


async def select_messages_by_ids(
    conn: AsyncConnection, row_ids: Sequence[int]
) -> list[StoredMessage]:
    """Messages by row ID, in no particular order."""
    if not row_ids:
        return []
    rows = await conn.execute(select(*_COLUMNS).where(messages.c.id.in_(list(row_ids))))
    return [to_stored_message(r) for r in rows]


@dataclass(frozen=True)
class MessageFilter:
    """Which messages a list asks for; None means no filter."""

    direction: Direction | None = None
    failed: bool | None = None
    search: str | None = None
    start: datetime | None = None
    end: datetime | None = None


def _filter_clause(org_id: int, wanted: MessageFilter) -> ColumnElement[bool]:
    return filter_messages_clause(messages, org_id, wanted)


def filter_messages_clause(
    table: Table, org_id: int, wanted: MessageFilter, searched: Sequence[Column[Any]] = ()
) -> ColumnElement[bool]:
    """The WHERE of a message list on `table` (SMS or WhatsApp: they share these columns);
    `search` also looks in the `searched` text columns."""
    c = table.c
    clauses: list[ColumnElement[bool]] = [c.org_id == org_id]
    if wanted.direction is not None:
        clauses.append(c.direction == wanted.direction.value)
    if wanted.failed is True:
        clauses.append(c.status == MessageStatus.FAILED.value)
    elif wanted.failed is False:
        clauses.append(c.status != MessageStatus.FAILED.value)
    if wanted.start is not None:
        clauses.append(c.created_at >= wanted.start)
    if wanted.end is not None:
        clauses.append(c.created_at < wanted.end)
    if wanted.search:
        pattern = f"%{escape_like(wanted.search.lower())}%"
        # The spec searches "contact fields" too: the contact's names, in the same statement
        # (a read-only subquery on contacts, so a page stays one query however many match).
        named_contacts = select(contacts.c.id).where(
            contacts.c.org_id == org_id,
            # Text inside either name is inside "first last": one lower() a contact.
            func.lower(contacts.c.first_name + " " + contacts.c.last_name).like(
                pattern, escape="\\"
            ),
        )
        clauses.append(
            or_(
                func.lower(c.body).like(pattern, escape="\\"),
                func.lower(c.sender).like(pattern, escape="\\"),
                c.recipient.like(pattern, escape="\\"),
                func.lower(c.client_ref).like(pattern, escape="\\"),
                c.contact_id.in_(named_contacts.scalar_subquery()),
                *(func.lower(column).like(pattern, escape="\\") for column in searched),
            )
        )
    return and_(*clauses)


async def select_messages_before(
    conn: AsyncConnection, org_id: int, wanted: MessageFilter, before_id: int | None, limit: int
) -> list[StoredMessage]:
    """Newest first, keyset-paged: messages with an ID below `before_id` (all when None)."""
    clause = _filter_clause(org_id, wanted)
    if before_id is not None:
        clause = and_(clause, messages.c.id < before_id)
    rows = await conn.execute(
        select(*_COLUMNS).where(clause).order_by(messages.c.id.desc()).limit(limit)
    )
    return [to_stored_message(r) for r in rows]


async def select_messages_page(
    conn: AsyncConnection, org_id: int, wanted: MessageFilter, offset: int, limit: int
) -> list[StoredMessage]:
    """Newest first, classic paging."""
    rows = await conn.execute(
        select(*_COLUMNS)
        .where(_filter_clause(org_id, wanted))
        .order_by(messages.c.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return [to_stored_message(r) for r in rows]


async def insert_inbound_message(
    conn: AsyncConnection,
    org_id: int,
    contact_id: int | None,
    sms: InboundSms,
    encoding: str,
    parts: int,
) -> int:
    """Store a message received from a handset."""
    result = await conn.execute(
        insert(messages)
        .values(
            org_id=org_id,
            direction=Direction.INGRESS.value,
            contact_id=contact_id,
            sender=sms.sender,
            recipient=sms.recipient,
            body=sms.body,
            encoding=encoding,
            parts=parts,
            status=MessageStatus.RECEIVED.value,
            receipt="unknown",
            channel=sms.channel,
            operator_message_id=sms.operator_event_id or None,
            created_at=sms.at,
            updated_at=sms.at,
            # Due for the campaigns' reply handling (poll answers, opt-out keywords).
            next_attempt_at=sms.at,
        )
        .returning(messages.c.id)
    )
    return int(result.scalar_one())


async def inbound_exists(conn: AsyncConnection, channel: str, operator_event_id: str) -> bool:
    """Whether an inbound message with this operator ID is stored already."""
    row = (
        await conn.execute(
            select(messages.c.id)
            .where(
                messages.c.channel == channel,
                messages.c.operator_message_id == operator_event_id,
                messages.c.direction == Direction.INGRESS.value,
            )
            .limit(1)
        )
    ).first()
    return row is not None


_DUE_INBOUND = DueRows(
    messages,
    messages.c.next_attempt_at,
    where=(messages.c.status == MessageStatus.RECEIVED.value,),
)


async def any_unhandled_inbound(conn: AsyncConnection, now: datetime) -> bool:
    """Whether some inbound message waits for reply handling (a read before a write)."""
    return await any_due_row(conn, _DUE_INBOUND, now=now)


async def take_unhandled_inbound(
    conn: AsyncConnection, now: datetime, limit: int, skip_locked: bool
) -> list[UnhandledInbound]:
    """Take inbound messages due for reply handling, oldest first, and mark them handled.

    The caller handles them in the same transaction: if it fails, they are due again.
    """
    due = (
        select(messages.c.id)
        .where(
            messages.c.status == MessageStatus.RECEIVED.value,
            messages.c.next_attempt_at <= now,
        )
        .order_by(messages.c.next_attempt_at, messages.c.id)
        .limit(limit)
    )
    if skip_locked:
        due = due.with_for_update(skip_locked=True)
    rows = await conn.execute(
        update(messages)
        .where(messages.c.id.in_(due.scalar_subquery()))
        .values(next_attempt_at=None)
        .returning(
            messages.c.id,
            messages.c.org_id,
            messages.c.sender,
            messages.c.body,
            messages.c.created_at,
        )
    )
    return sorted(
        (UnhandledInbound(int(r.id), int(r.org_id), r.sender, r.body, r.created_at) for r in rows),
        key=lambda item: item.id,
    )


async def select_runs_with_failed_messages(
    conn: AsyncConnection, run_ids: Sequence[int]
) -> set[int]:
    """Which of these campaign runs have a message that failed (refused, expired)."""
    if not run_ids:
        return set()
    rows = await conn.execute(
        select(messages.c.campaign_run_id)
        .where(
            messages.c.campaign_run_id.in_(sorted(set(run_ids))),
            messages.c.status == MessageStatus.FAILED.value,
        )
        .distinct()
    )
    return {int(r) for r in rows.scalars()}
