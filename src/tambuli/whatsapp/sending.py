"""Accepting a WhatsApp message: WhatsApp's rules checked, priced, paid for and queued.

Every rule is checked before anything is written; the write (the contact found or created,
the reservation, the message and its clientDedup key) is one transaction, so a refused send
creates no contact and holds no money.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.billing import reservations as funds
from tambuli.channels.whatsapp.base import MediaKind
from tambuli.contacts import service as contacts
from tambuli.contacts.models import Contact, ContactInput, PhoneNumber
from tambuli.errors import (
    DuplicateMessage,
    EmptyMessage,
    FileNotFound,
    InvalidTemplateContent,
    InvalidWhatsAppMedia,
    MessageTooLong,
    TemplateRequired,
    UnknownContact,
    UnknownTemplate,
)
from tambuli.files import service as files
from tambuli.messaging.models import MAX_MESSAGE_LENGTH, Direction, MessageStatus
from tambuli.messaging.personalisation import (
    has_variables,
    render_for_contact,
    render_for_new_contact,
)
from tambuli.messaging.sending import Outbox, check_client_fields
from tambuli.records import frozen_record
from tambuli.texts import check_storable_text
from tambuli.whatsapp import numbers, store
from tambuli.whatsapp.models import (
    check_media,
    fill_template,
    parse_template_content,
    within_service_window,
)
from tambuli.whatsapp.number_store import BusinessNumber
from tambuli.whatsapp.views import StoredWhatsApp

RESERVATION_REASON = "whatsapp"
# WhatsApp's own limit on a text message.
MAX_WHATSAPP_TEXT = 4096


@frozen_record
class WhatsAppRequest:
    """A send request checked in shape; send_whatsapp applies the rules."""

    org_id: int
    sender: str
    text: str
    contact_id: int | None
    phone: PhoneNumber | None
    # kind -> filename of an uploaded File.
    media: dict[MediaKind, str]
    # The request's `content` as given (a template), or None.
    content: object | None = None
    client_dedup: str = ""
    client_push_url: str = ""
    client_ref: str = ""


@dataclass(frozen=True)
class _Recipient:
    contact: Contact | None
    digits: str
    last_inbound_at: datetime | None
    field_names: dict[int, str]

    def render(self, text: str) -> str:
        if self.contact is None:
            return render_for_new_contact(text, self.digits)
        return render_for_contact(text, self.contact, self.field_names)


def _check_text(text: str) -> None:
    if len(text) > MAX_MESSAGE_LENGTH:
        raise MessageTooLong(f"The message is longer than {MAX_MESSAGE_LENGTH} characters")
    check_storable_text("message", text)


async def _find_recipient(
    conn: AsyncConnection, request: WhatsAppRequest, wants_names: bool
) -> _Recipient:
    if request.contact_id is not None:
        contact = await contacts.get_contact_within(conn, request.org_id, request.contact_id)
        if contact is None:
            raise UnknownContact(f"No contact with ID {request.contact_id} in this organization")
    else:
        assert request.phone is not None
        contact = await contacts.find_newest_contact_with_phone_within(
            conn, request.org_id, request.phone.digits
        )
    if contact is None:
        assert request.phone is not None
        return _Recipient(None, request.phone.digits, None, {})
    names = (
        await contacts.read_custom_field_names_within(conn, request.org_id) if wants_names else {}
    )
    return _Recipient(contact, contact.phone, contact.whatsapp_inbound_at, names)


async def _expand_template(
    conn: AsyncConnection, number: BusinessNumber, content: object, recipient: _Recipient
) -> dict[str, Any]:
    wanted = parse_template_content(content)
    template = await numbers.find_template_within(conn, number.id, wanted.name, wanted.language)
    if template is None:
        raise UnknownTemplate(
            f"No template {wanted.name!r} in {wanted.language!r} is registered for"
            f" +{number.number}",
            {"name": wanted.name, "language": wanted.language},
        )
    if len(wanted.parameters) != template.parameter_count:
        raise InvalidTemplateContent(
            f"Template {template.name!r} takes {template.parameter_count} parameters;"
            f" {len(wanted.parameters)} were given",
            {"expected": template.parameter_count, "given": len(wanted.parameters)},
        )
    parameters = tuple(recipient.render(p) for p in wanted.parameters)
    return {
        "name": template.name,
        "language": template.language,
        "parameters": list(parameters),
        "body": fill_template(template.body, parameters),
    }


async def _check_media(outbox: Outbox, org_id: int, media: dict[MediaKind, str]) -> None:
    if len(media) > 1:
        raise InvalidWhatsAppMedia(
            "A WhatsApp message carries one file: give one of image, audio, video or document"
        )
    for kind, filename in media.items():
        try:
            found = await files.get_file(outbox.db, org_id, filename.strip())
        except FileNotFound as exc:
            raise InvalidWhatsAppMedia(
                f"{kind.value}: this organization has no file {filename!r}", {"field": kind.value}
            ) from exc
        check_media(kind, found.filename, found.content_type, found.size)


async def send_whatsapp(outbox: Outbox, request: WhatsAppRequest) -> StoredWhatsApp:
    """Accept one WhatsApp message for delivery: checked, reserved and queued in one commit.

    DuplicateMessage when the clientDedup was used before; a TambuliError for every rule
    broken (nothing is queued then).
    """
    db, clock = outbox.db, outbox.clock
    _check_text(request.text)
    check_client_fields(request.client_dedup, request.client_ref, request.client_push_url)
    if request.client_dedup:
        async with db.read() as conn:
            duplicate = await store.select_message_by_dedup(
                conn, request.org_id, request.client_dedup
            )
        if duplicate is not None:
            raise DuplicateMessage(duplicate)
    await _check_media(outbox, request.org_id, request.media)
    profile = await outbox.profiles.get(request.org_id)
    now = clock.now()
    wants_names = has_variables(request.text) or request.content is not None
    async with db.read() as conn:
        number = await numbers.find_sending_number_within(conn, request.org_id, request.sender)
        recipient = await _find_recipient(conn, request, wants_names)
        content = None
        if request.content is not None:
            content = await _expand_template(conn, number, request.content, recipient)
    if content is None:
        if not request.text.strip() and not request.media:
            raise EmptyMessage()
        if not within_service_window(recipient.last_inbound_at, now):
            raise TemplateRequired()
    body = recipient.render(request.text)
    if len(body) > MAX_WHATSAPP_TEXT:
        raise MessageTooLong(f"WhatsApp takes at most {MAX_WHATSAPP_TEXT} characters")
    values = {
        "org_id": request.org_id,
        "direction": Direction.EGRESS.value,
        "sender": number.number,
        "recipient": recipient.digits,
        "body": body,
        "content": content,
        "price_micro": number.price_micro,
        "client_ref": request.client_ref,
        "client_dedup": request.client_dedup,
        "client_push_url": request.client_push_url,
        "status": MessageStatus.QUEUED.value,
        "next_attempt_at": now,
        "deadline_at": now + timedelta(seconds=profile.delivery_window_seconds),
        "created_at": now,
        "updated_at": now,
    }
    media = sorted((kind, filename.strip()) for kind, filename in request.media.items())
    try:
        return await _write(outbox, request, recipient, values, media)
    except IntegrityError:
        if not request.client_dedup:
            raise
        async with db.read() as conn:
            original = await store.select_message_by_dedup(
                conn, request.org_id, request.client_dedup
            )
        if original is None:
            raise
        raise DuplicateMessage(original) from None


async def _write(
    outbox: Outbox,
    request: WhatsAppRequest,
    recipient: _Recipient,
    values: dict[str, Any],
    media: list[tuple[MediaKind, str]],
) -> StoredWhatsApp:
    clock = outbox.clock
    async with outbox.db.write() as conn:
        contact = recipient.contact
        if contact is None:
            assert request.phone is not None
            contact, _ = await contacts.find_or_create_contact_with_phone_within(
                conn, clock, request.org_id, request.phone, ContactInput()
            )
        [reservation_id] = await funds.reserve_many_within(
            conn,
            clock,
            request.org_id,
            [values["price_micro"]],
            RESERVATION_REASON,
            [f"whatsapp to +{values['recipient']}"],
        )
        stored = await store.insert_message(
            conn, {**values, "contact_id": contact.id, "reservation_id": reservation_id}, media
        )
        if request.client_dedup:
            await store.insert_dedup_key(conn, request.org_id, request.client_dedup, stored.id)
        await contacts.mark_contacts_used_within(conn, clock, [contact.id])
    return stored
