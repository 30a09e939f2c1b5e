"""Reading WhatsApp messages back: one by its ID, or newest first by cursor or by page, by the
SMS list's rules (messaging/listing.py)."""

from __future__ import annotations

from tambuli.db.engine import Database
from tambuli.errors import WhatsAppMessageNotFound
from tambuli.messaging.listing import (
    MessagePage,
    read_messages_after,
    read_messages_page,
    read_one_message,
)
from tambuli.messaging.store import MessageFilter
from tambuli.whatsapp import store
from tambuli.whatsapp.models import MESSAGE_ID_PREFIX
from tambuli.whatsapp.views import StoredWhatsApp


async def get_message(db: Database, org_id: int, message_id: str) -> StoredWhatsApp:
    """One WhatsApp message of the organization by its ID."""
    return await read_one_message(
        db, org_id, message_id, store.select_message, WhatsAppMessageNotFound, MESSAGE_ID_PREFIX
    )


async def list_messages_after(
    db: Database, org_id: int, wanted: MessageFilter, after: str | None, limit: int
) -> MessagePage[StoredWhatsApp]:
    """Up to `limit` messages older than the cursor `after` (a message ID), newest first."""
    return await read_messages_after(
        db, org_id, wanted, after, limit, store.select_messages_before, MESSAGE_ID_PREFIX
    )


async def list_messages_page(
    db: Database, org_id: int, wanted: MessageFilter, page: int, size: int
) -> list[StoredWhatsApp]:
    """Page `page` (from 1) of `size` messages, newest first."""
    return await read_messages_page(db, org_id, wanted, page, size, store.select_messages_page)
