"""Queueing many WhatsApp messages to known contacts inside the caller's transaction (campaign
steps).

The same rules, prices and queue as a single send (sending.py): each message is composed by
`compose_within` and written by intake.py's `write_drafts_within`; what differs is that the
contacts exist, every read happens on the caller's connection, and a message that breaks a
rule is answered with its error instead of stopping the batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.billing import reservations as funds
from tambuli.channels.whatsapp.base import MediaKind
from tambuli.clock import Clock
from tambuli.contacts.models import Contact
from tambuli.db.engine import Database
from tambuli.db.schema import whatsapp_messages
from tambuli.errors import TambuliError
from tambuli.messaging import queue_store
from tambuli.messaging.contact_batches import draft_and_write, read_field_names_within
from tambuli.messaging.personalisation import has_variables
from tambuli.messaging.sending import Outbox
from tambuli.whatsapp import numbers, run_store
from tambuli.whatsapp.intake import WhatsAppDraft, write_drafts_within
from tambuli.whatsapp.models import NewWhatsApp, within_service_window
from tambuli.whatsapp.number_store import BusinessNumber
from tambuli.whatsapp.sending import (
    Recipient,
    check_media_within,
    compose_within,
    draft_message,
)
from tambuli.whatsapp.views import StoredWhatsApp


@dataclass(frozen=True)
class ContactWhatsApp:
    """One WhatsApp message to a contact: text and template chosen, personalised here."""

    contact: Contact
    sender: str
    text: str
    # The template ({"name", "language", "parameters"}), or None for a free-form message.
    content: object | None = None
    media: Mapping[MediaKind, str] = field(default_factory=dict)
    # With both a text and a template: the free-form text while the contact's 24-hour window
    # is open (WhatsApp's service conversation), the template only once it is closed.
    template_when_window_closed: bool = False
    campaign_run_id: int | None = None
    # The delivery deadline ends here at the latest (a campaign's sending window closing).
    deadline_cap: datetime | None = None


async def enqueue_contact_whatsapp_within(
    conn: AsyncConnection, outbox: Outbox, items: Sequence[ContactWhatsApp]
) -> list[StoredWhatsApp | TambuliError]:
    """Queue each message (reserving its price) or say why not, in the order given."""
    now = outbox.clock.now()
    senders: dict[tuple[int, str], BusinessNumber | TambuliError] = {}
    field_names: dict[int, dict[int, str]] = {}

    async def draft(item: ContactWhatsApp) -> WhatsAppDraft:
        number = await _sending_number(conn, senders, item)
        names = await _field_names(conn, field_names, item)
        contact = item.contact
        recipient = Recipient(contact, contact.phone, contact.whatsapp_inbound_at, names)
        return await _draft(conn, outbox, item, number, recipient, now)

    return await draft_and_write(items, draft, partial(write_drafts_within, conn, outbox.clock))


async def _sending_number(
    conn: AsyncConnection,
    found: dict[tuple[int, str], BusinessNumber | TambuliError],
    item: ContactWhatsApp,
) -> BusinessNumber:
    key = (item.contact.org_id, item.sender)
    if key not in found:
        try:
            found[key] = await numbers.find_sending_number_within(conn, *key)
        except TambuliError as exc:
            found[key] = exc
    number = found[key]
    if isinstance(number, TambuliError):
        raise number
    return number


async def _field_names(
    conn: AsyncConnection, found: dict[int, dict[int, str]], item: ContactWhatsApp
) -> dict[int, str]:
    if item.content is None and not has_variables(item.text):
        return {}
    return await read_field_names_within(conn, found, item.contact.org_id)


async def _draft(
    conn: AsyncConnection,
    outbox: Outbox,
    item: ContactWhatsApp,
    number: BusinessNumber,
    recipient: Recipient,
    now: datetime,
) -> WhatsAppDraft:
    content = item.content
    if item.template_when_window_closed and within_service_window(recipient.last_inbound_at, now):
        content = None
    text = item.text if content is None else ""
    await check_media_within(conn, item.contact.org_id, item.media)
    body, expanded = await compose_within(
        conn, number, recipient, text, bool(item.media), content, now
    )
    profile = await outbox.profiles.get_within(conn, item.contact.org_id)
    deadline = now + timedelta(seconds=profile.delivery_window_seconds)
    if item.deadline_cap is not None and item.deadline_cap < deadline:
        deadline = max(item.deadline_cap, now + timedelta(seconds=1))
    message = NewWhatsApp(
        org_id=item.contact.org_id,
        contact_id=item.contact.id,
        sender=number.number,
        recipient=recipient.digits,
        body=body,
        content=expanded,
        price_micro=number.price_micro,
        created_at=now,
        deadline_at=deadline,
        campaign_run_id=item.campaign_run_id,
    )
    return draft_message(message, item.media)


async def cancel_run_whatsapp_within(
    conn: AsyncConnection, clock: Clock, run_ids: Sequence[int], reason: str
) -> None:
    """Fail (and refund) the WhatsApp messages of these campaign runs that are still queued."""
    reservations = await queue_store.fail_queued_messages_of_runs(
        conn, whatsapp_messages, run_ids, clock.now(), reason
    )
    await funds.release_many_within(conn, clock, reservations)


async def find_runs_with_failed_whatsapp(db: Database, run_ids: Sequence[int]) -> set[int]:
    """Campaign runs (of these) that have a WhatsApp message that failed."""
    async with db.read() as conn:
        return await run_store.select_runs_with_failed_messages(conn, run_ids)
