"""Reading WhatsApp messages back: one by its ID, or newest first by cursor or by page.

The same rules as the SMS list (messaging/listing.py): the limits, the cursor and the filters.
"""

from __future__ import annotations

from dataclasses import dataclass

from tambuli.db.engine import Database
from tambuli.errors import InvalidField, WhatsAppMessageNotFound
from tambuli.messaging.listing import MAX_CURSOR_LIMIT, MAX_PAGE_SIZE, check_page
from tambuli.messaging.models import MessageKey, parse_message_id
from tambuli.messaging.store import MessageFilter
from tambuli.whatsapp import store
from tambuli.whatsapp.models import MESSAGE_ID_PREFIX
from tambuli.whatsapp.views import StoredWhatsApp

__all__ = [
    "MAX_CURSOR_LIMIT",
    "MAX_PAGE_SIZE",
    "get_message",
    "list_messages_after",
    "list_messages_page",
]


@dataclass(frozen=True)
class WhatsAppPage:
    """Messages newest first, and the cursor of the next (older) page when there is one."""

    messages: list[StoredWhatsApp]
    next_after: str | None


def _parse_id(text: str) -> MessageKey | None:
    return parse_message_id(text.strip(), MESSAGE_ID_PREFIX)


async def get_message(db: Database, org_id: int, message_id: str) -> StoredWhatsApp:
    """One WhatsApp message of the organization by its ID."""
    key = _parse_id(message_id)
    if key is None or key.org_id != org_id:
        raise WhatsAppMessageNotFound()
    async with db.read() as conn:
        found = await store.select_message(conn, org_id, key.row_id)
    # The timestamp is part of the ID: a guessed sequence with the wrong time finds nothing.
    if found is None or found.message_id != message_id.strip():
        raise WhatsAppMessageNotFound()
    return found


async def list_messages_after(
    db: Database, org_id: int, wanted: MessageFilter, after: str | None, limit: int
) -> WhatsAppPage:
    """Up to `limit` messages older than the cursor `after` (a message ID), newest first."""
    if not 1 <= limit <= MAX_CURSOR_LIMIT:
        raise InvalidField(f"limit must be between 1 and {MAX_CURSOR_LIMIT}", {"field": "limit"})
    before_id = None
    if after:
        key = _parse_id(after)
        if key is None or key.org_id != org_id:
            raise InvalidField("after is not a nextPage value of this list", {"field": "after"})
        before_id = key.row_id
    async with db.read() as conn:
        found = await store.select_messages_before(conn, org_id, wanted, before_id, limit + 1)
    has_more = len(found) > limit
    shown = found[:limit]
    return WhatsAppPage(shown, shown[-1].message_id if has_more and shown else None)


async def list_messages_page(
    db: Database, org_id: int, wanted: MessageFilter, page: int, size: int
) -> list[StoredWhatsApp]:
    """Page `page` (from 1) of `size` messages, newest first."""
    check_page(page, size)
    async with db.read() as conn:
        return await store.select_messages_page(conn, org_id, wanted, (page - 1) * size, size)
