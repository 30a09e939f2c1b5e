"""Reading messages back: one by its ID, or newest first by cursor or by page.

The rules (limits, the cursor, IDs of another organization) are the same for every channel's
messages: WhatsApp's list (whatsapp/listing.py) reads its own table through these functions.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.db.engine import Database
from tambuli.errors import InvalidField, MessageNotFound, NotFound
from tambuli.messaging import store
from tambuli.messaging.models import parse_message_id
from tambuli.messaging.store import MessageFilter as MessageFilter
from tambuli.messaging.views import StoredMessage

MAX_CURSOR_LIMIT = 100
MAX_PAGE_SIZE = 1000


class MessageRecord(Protocol):
    """A stored message of any channel, as the lists need it."""

    @property
    def message_id(self) -> str:
        """Its engageSPARK-style ID."""
        ...


R = TypeVar("R", bound=MessageRecord)
# (conn, org_id, filter, below this row ID or None, limit) -> records newest first.
SelectBefore = Callable[[AsyncConnection, int, MessageFilter, int | None, int], Awaitable[list[R]]]
# (conn, org_id, filter, offset, limit) -> records newest first.
SelectPage = Callable[[AsyncConnection, int, MessageFilter, int, int], Awaitable[list[R]]]


@dataclass(frozen=True)
class MessagePage(Generic[R]):
    """Messages newest first, and the cursor of the next (older) page when there is one."""

    messages: list[R]
    next_after: str | None


async def get_message(db: Database, org_id: int, message_id: str) -> StoredMessage:
    """One message of the organization by its engageSPARK-style ID."""
    return await read_one_message(db, org_id, message_id, store.select_message, MessageNotFound)


async def read_one_message(
    db: Database,
    org_id: int,
    message_id: str,
    select_one: Callable[[AsyncConnection, int, int], Awaitable[R | None]],
    not_found: type[NotFound],
    prefix: str = "SMS",
) -> R:
    """One message by its ID (of the channel `prefix` names); `not_found` when there is none."""
    key = parse_message_id(message_id.strip(), prefix)
    if key is None or key.org_id != org_id:
        raise not_found()
    async with db.read() as conn:
        found = await select_one(conn, org_id, key.row_id)
    # The timestamp is part of the ID: a guessed sequence with the wrong time finds nothing.
    if found is None or found.message_id != message_id.strip():
        raise not_found()
    return found


async def list_messages_after(
    db: Database, org_id: int, wanted: MessageFilter, after: str | None, limit: int
) -> MessagePage[StoredMessage]:
    """Up to `limit` messages older than the cursor `after` (a message ID), newest first."""
    return await read_messages_after(db, org_id, wanted, after, limit, store.select_messages_before)


async def read_messages_after(
    db: Database,
    org_id: int,
    wanted: MessageFilter,
    after: str | None,
    limit: int,
    select_before: SelectBefore[R],
    prefix: str = "SMS",
) -> MessagePage[R]:
    """Up to `limit` messages older than the cursor `after` (a message ID), newest first.

    The cursor is a position, not an offset, so pages do not shift as new messages arrive.
    """
    if not 1 <= limit <= MAX_CURSOR_LIMIT:
        raise InvalidField(f"limit must be between 1 and {MAX_CURSOR_LIMIT}", {"field": "limit"})
    before_id = None
    if after:
        key = parse_message_id(after.strip(), prefix)
        if key is None or key.org_id != org_id:
            raise InvalidField("after is not a nextPage value of this list", {"field": "after"})
        before_id = key.row_id
    async with db.read() as conn:
        found = await select_before(conn, org_id, wanted, before_id, limit + 1)
    has_more = len(found) > limit
    shown = found[:limit]
    return MessagePage(shown, shown[-1].message_id if has_more and shown else None)


async def list_messages_page(
    db: Database, org_id: int, wanted: MessageFilter, page: int, size: int
) -> list[StoredMessage]:
    """Page `page` (from 1) of `size` messages, newest first."""
    return await read_messages_page(db, org_id, wanted, page, size, store.select_messages_page)


async def read_messages_page(
    db: Database,
    org_id: int,
    wanted: MessageFilter,
    page: int,
    size: int,
    select_page: SelectPage[R],
) -> list[R]:
    """Page `page` (from 1) of `size` messages, newest first."""
    if page < 1:
        raise InvalidField("page starts at 1", {"field": "page"})
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise InvalidField(f"size must be between 1 and {MAX_PAGE_SIZE}", {"field": "size"})
    if (page - 1) * size >= 2**62:
        raise InvalidField("page is too large", {"field": "page"})
    async with db.read() as conn:
        return await select_page(conn, org_id, wanted, (page - 1) * size, size)
