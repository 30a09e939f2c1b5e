"""Reading messages back: one by its ID, or newest first by cursor or by page."""

from __future__ import annotations

from dataclasses import dataclass

from tambuli.db.engine import Database
from tambuli.errors import InvalidField, MessageNotFound
from tambuli.messaging import store
from tambuli.messaging.models import parse_message_id
from tambuli.messaging.store import MessageFilter as MessageFilter
from tambuli.messaging.views import StoredMessage

MAX_CURSOR_LIMIT = 100
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True)
class MessagePage:
    """Messages newest first, and the cursor of the next (older) page when there is one."""

    messages: list[StoredMessage]
    next_after: str | None


async def get_message(db: Database, org_id: int, message_id: str) -> StoredMessage:
    """One message of the organization by its engageSPARK-style ID."""
    key = parse_message_id(message_id.strip())
    if key is None or key.org_id != org_id:
        raise MessageNotFound()
    async with db.read() as conn:
        found = await store.select_message(conn, org_id, key.row_id)
    # The timestamp is part of the ID: a guessed sequence with the wrong time finds nothing.
    if found is None or found.message_id != message_id.strip():
        raise MessageNotFound()
    return found


async def list_messages_after(
    db: Database, org_id: int, wanted: MessageFilter, after: str | None, limit: int
) -> MessagePage:
    """Up to `limit` messages older than the cursor `after` (a message ID), newest first.

    The cursor is a position, not an offset, so pages do not shift as new messages arrive.
    """
    if not 1 <= limit <= MAX_CURSOR_LIMIT:
        raise InvalidField(f"limit must be between 1 and {MAX_CURSOR_LIMIT}", {"field": "limit"})
    before_id = None
    if after:
        key = parse_message_id(after.strip())
        if key is None or key.org_id != org_id:
            raise InvalidField("after is not a nextPage value of this list", {"field": "after"})
        before_id = key.row_id
    async with db.read() as conn:
        found = await store.select_messages_before(conn, org_id, wanted, before_id, limit + 1)
    has_more = len(found) > limit
    shown = found[:limit]
    return MessagePage(shown, shown[-1].message_id if has_more and shown else None)


async def list_messages_page(
    db: Database, org_id: int, wanted: MessageFilter, page: int, size: int
) -> list[StoredMessage]:
    """Page `page` (from 1) of `size` messages, newest first."""
    check_page(page, size)
    async with db.read() as conn:
        return await store.select_messages_page(conn, org_id, wanted, (page - 1) * size, size)


def check_page(page: int, size: int) -> None:
    """Refuse a page number or size a message list does not serve."""
    if page < 1:
        raise InvalidField("page starts at 1", {"field": "page"})
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise InvalidField(f"size must be between 1 and {MAX_PAGE_SIZE}", {"field": "size"})
    if (page - 1) * size >= 2**62:
        raise InvalidField("page is too large", {"field": "page"})
