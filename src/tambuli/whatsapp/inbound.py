"""Recording what contacts send to the organizations' WhatsApp numbers, and the WhatsAppEvents
sink every WhatsApp channel reports to.

An inbound message belongs to the organization its business number is registered to (one
number, one organization: no guessing as for shared SMS sender IDs). Its sender becomes the
organization's contact if it was none (named by its WhatsApp profile), is WhatsApp-ready from
then on and may get free-form messages for 24 hours. Its files become Files of the organization;
it is pushed to the inbound URL as an inbound SMS is.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.channels.whatsapp.base import InboundWhatsApp, MediaKind, WhatsAppStatus
from tambuli.clock import Clock
from tambuli.contacts import phones
from tambuli.contacts import service as contacts
from tambuli.contacts.models import ContactInput
from tambuli.db.engine import Database
from tambuli.errors import InvalidPhoneNumber, TambuliError
from tambuli.files import service as files
from tambuli.files.models import Upload
from tambuli.messaging.models import Direction, MessageStatus
from tambuli.messaging.views import WHATSAPP_CHANNEL, UnhandledInbound
from tambuli.organizations import profile as profiles
from tambuli.webhooks import service as webhooks
from tambuli.whatsapp import number_store, store
from tambuli.whatsapp.statuses import record_statuses_within
from tambuli.whatsapp.views import render_record

log = logging.getLogger("tambuli.whatsapp")
# The Files category inbound media are stored under.
INBOUND_FILE_CATEGORY = "whatsapp"


class WhatsAppEventLog:
    """The WhatsAppEvents of this installation: statuses and inbound messages into the database."""

    def __init__(self, db: Database, clock: Clock, max_file_bytes: int) -> None:
        self._db = db
        self._clock = clock
        self._max_file_bytes = max_file_bytes

    async def record_statuses(self, statuses: Sequence[WhatsAppStatus]) -> None:
        """Store status updates; ones for unknown message IDs are kept until their message is."""
        if not statuses:
            return
        async with self._db.write() as conn:
            await record_statuses_within(conn, self._clock.now(), statuses)

    async def record_inbound(self, messages: Sequence[InboundWhatsApp]) -> None:
        """Store inbound WhatsApp messages, each once."""
        for message in messages:
            await record_inbound_message(self._db, self._clock, message, self._max_file_bytes)


async def _owner_of(db: Database, message: InboundWhatsApp) -> int | None:
    async with db.read() as conn:
        if message.operator_event_id and await store.inbound_exists(
            conn, message.channel, message.operator_event_id
        ):
            return None  # delivered to us twice: stored once
        number = await number_store.select_number(conn, message.recipient.removeprefix("+"))
    if number is None:
        log.warning(
            "inbound WhatsApp message from %s to %s dropped: not a registered business number",
            message.sender,
            message.recipient,
        )
        return None
    return number.org_id


async def _store_media(
    db: Database, clock: Clock, org_id: int, message: InboundWhatsApp, max_file_bytes: int
) -> list[tuple[MediaKind, str]]:
    stored: list[tuple[MediaKind, str]] = []
    for index, media in enumerate(message.media):
        name = media.filename or f"{media.kind.value}-{message.operator_event_id or index}"
        try:
            report = await files.upload_files(
                db,
                clock,
                org_id,
                INBOUND_FILE_CATEGORY,
                [Upload(name, media.data)],
                max_file_bytes=max_file_bytes,
            )
        except TambuliError as exc:  # an empty or oversized file: the text still counts
            log.warning("inbound WhatsApp file %s not stored: %s", name, exc.message)
            continue
        stored.extend((media.kind, f.filename) for f in report.stored)
    return stored


async def record_inbound_message(
    db: Database, clock: Clock, message: InboundWhatsApp, max_file_bytes: int
) -> None:
    """Store one inbound message under its business number's organization, and push it."""
    org_id = await _owner_of(db, message)
    if org_id is None:
        return
    media = await _store_media(db, clock, org_id, message, max_file_bytes)
    async with db.write() as conn:
        if message.operator_event_id and await store.inbound_exists(
            conn, message.channel, message.operator_event_id
        ):
            return
        contact_id = await _find_or_create_contact(conn, clock, org_id, message)
        caption = " ".join(m.caption for m in message.media if m.caption)
        location = message.location
        now = clock.now()
        stored = await store.insert_message(
            conn,
            {
                "org_id": org_id,
                "direction": Direction.INGRESS.value,
                "contact_id": contact_id,
                "sender": message.sender.removeprefix("+"),
                "recipient": message.recipient.removeprefix("+"),
                "body": message.text or caption,
                "location": None
                if location is None
                else {
                    "latitude": location.latitude,
                    "longitude": location.longitude,
                    "name": location.name,
                    "address": location.address,
                },
                "status": MessageStatus.RECEIVED.value,
                # Due for the campaigns (poll answers, opt-outs), as an inbound SMS is.
                "next_attempt_at": message.at,
                "channel": message.channel,
                "operator_message_id": message.operator_event_id or None,
                "created_at": message.at,
                "updated_at": now,
            },
            media,
        )
        if contact_id is not None:
            await contacts.record_whatsapp_inbound_within(conn, org_id, [contact_id], message.at)
        profile = await profiles.read_profile_within(conn, org_id)
        if profile is not None and profile.inbound_url:
            payload: dict[str, Any] = msgspec.to_builtins(render_record(stored))
            payload["event"] = "inbound"
            await webhooks.enqueue_pushes_within(
                conn, now, [(org_id, profile.inbound_url, "inbound", payload)]
            )


async def _find_or_create_contact(
    conn: AsyncConnection, clock: Clock, org_id: int, message: InboundWhatsApp
) -> int | None:
    try:
        phone = phones.normalise_full_number(message.sender)
    except InvalidPhoneNumber:
        return None  # a WhatsApp user ID without a usable number: stored without a contact
    name = message.profile_name.strip()[:200] or None
    contact, _ = await contacts.find_or_create_contact_with_phone_within(
        conn, clock, org_id, phone, ContactInput(first_name=name)
    )
    return contact.id


async def any_unhandled_inbound(db: Database, now: datetime) -> bool:
    """Whether some inbound WhatsApp message waits for the campaigns."""
    async with db.read_single() as conn:
        return await store.any_unhandled_inbound(conn, now)


async def take_unhandled_inbound_within(
    conn: AsyncConnection, now: datetime, limit: int, skip_locked: bool
) -> list[UnhandledInbound]:
    """Inbound WhatsApp messages for the campaigns to answer (poll answers, opt-outs), marked
    handled in the caller's transaction."""
    rows = await store.take_unhandled_inbound(conn, now, limit, skip_locked)
    return [
        UnhandledInbound(
            int(r.id), int(r.org_id), r.sender, r.body, r.created_at, channel=WHATSAPP_CHANNEL
        )
        for r in rows
    ]
