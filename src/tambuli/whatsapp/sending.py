"""Accepting a WhatsApp message: WhatsApp's rules checked, priced, paid for and queued.

Every rule is checked before anything is written; the write (the contact found or created,
the reservation, the message and its clientDedup key) is one transaction shared with
concurrent sends (intake.py), so a refused send creates no contact and holds no money.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.channels.whatsapp.base import MediaKind
from tambuli.contacts import service as contacts
from tambuli.contacts.models import Contact, PhoneNumber
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
from tambuli.messaging.models import MAX_MESSAGE_LENGTH
from tambuli.messaging.personalisation import (
    has_variables,
    render_for_contact,
    render_for_new_contact,
)
from tambuli.messaging.sending import Outbox, check_client_fields
from tambuli.records import frozen_record
from tambuli.texts import check_storable_text
from tambuli.whatsapp import numbers, store
from tambuli.whatsapp.intake import WhatsAppDraft, WhatsAppIntake
from tambuli.whatsapp.models import (
    NewWhatsApp,
    TemplateRequest,
    check_media,
    fill_template,
    parse_template_content,
    within_service_window,
)
from tambuli.whatsapp.number_store import BusinessNumber, StoredTemplate
from tambuli.whatsapp.views import StoredWhatsApp

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
class Recipient:
    """Who a message goes to: the contact (None: created when it is written), the number, when
    they last wrote on WhatsApp, and the organization's custom field names for personalisation."""

    contact: Contact | None
    digits: str
    last_inbound_at: datetime | None
    field_names: dict[int, str]

    def render(self, text: str) -> str:
        """The text personalised for this recipient."""
        if self.contact is None:
            return render_for_new_contact(text, self.digits)
        return render_for_contact(text, self.contact, self.field_names)


def _check_text(text: str) -> None:
    if len(text) > MAX_MESSAGE_LENGTH:
        raise MessageTooLong(f"The message is longer than {MAX_MESSAGE_LENGTH} characters")
    check_storable_text("message", text)


async def _find_recipient(
    conn: AsyncConnection, request: WhatsAppRequest, wants_names: bool
) -> Recipient:
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
        return Recipient(None, request.phone.digits, None, {})
    names = (
        await contacts.read_custom_field_names_within(conn, request.org_id) if wants_names else {}
    )
    return Recipient(contact, contact.phone, contact.whatsapp_inbound_at, names)


async def check_template_within(
    conn: AsyncConnection, number: BusinessNumber, wanted: TemplateRequest
) -> StoredTemplate:
    """The registered template a request names; UnknownTemplate or InvalidTemplateContent."""
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
    return template


async def _expand_template(
    conn: AsyncConnection, number: BusinessNumber, content: object, recipient: Recipient
) -> dict[str, Any]:
    wanted = parse_template_content(content)
    template = await check_template_within(conn, number, wanted)
    parameters = tuple(recipient.render(p) for p in wanted.parameters)
    return {
        "name": template.name,
        "language": template.language,
        "parameters": list(parameters),
        "body": fill_template(template.body, parameters),
    }


async def check_media_within(
    conn: AsyncConnection, org_id: int, media: Mapping[MediaKind, str]
) -> None:
    """InvalidWhatsAppMedia unless the media name one stored File WhatsApp takes as its kind."""
    if len(media) > 1:
        raise InvalidWhatsAppMedia(
            "A WhatsApp message carries one file: give one of image, audio, video or document"
        )
    for kind, filename in media.items():
        try:
            found = await files.get_file_within(conn, org_id, filename.strip())
        except FileNotFound as exc:
            raise InvalidWhatsAppMedia(
                f"{kind.value}: this organization has no file {filename!r}", {"field": kind.value}
            ) from exc
        check_media(kind, found.filename, found.content_type, found.size)


async def compose_within(
    conn: AsyncConnection,
    number: BusinessNumber,
    recipient: Recipient,
    text: str,
    has_media: bool,
    content: object | None,
    now: datetime,
) -> tuple[str, dict[str, Any] | None]:
    """The body and expanded template of a message, WhatsApp's rules applied (24-hour window)."""
    expanded = None
    if content is not None:
        expanded = await _expand_template(conn, number, content, recipient)
    else:
        if not text.strip() and not has_media:
            raise EmptyMessage()
        if not within_service_window(recipient.last_inbound_at, now):
            raise TemplateRequired()
    body = recipient.render(text)
    if len(body) > MAX_WHATSAPP_TEXT:
        raise MessageTooLong(f"WhatsApp takes at most {MAX_WHATSAPP_TEXT} characters")
    return body, expanded


def draft_message(
    message: NewWhatsApp,
    media: Mapping[MediaKind, str],
    new_contact: PhoneNumber | None = None,
) -> WhatsAppDraft:
    """The draft of an outbound message; `new_contact` when the recipient has no contact yet
    (the batch that writes it gives it one)."""
    return WhatsAppDraft(
        message, sorted((kind, name.strip()) for kind, name in media.items()), new_contact
    )


async def send_whatsapp(
    outbox: Outbox, intake: WhatsAppIntake, request: WhatsAppRequest
) -> StoredWhatsApp:
    """Accept one WhatsApp message for delivery: checked, then reserved and queued in a batch
    with concurrent sends (see intake.py), which also creates a missing contact.

    DuplicateMessage when the clientDedup was used before, InsufficientFunds when the balance
    does not cover it; a TambuliError for every rule broken (nothing is queued then).
    """
    db = outbox.db
    _check_text(request.text)
    check_client_fields(request.client_dedup, request.client_ref, request.client_push_url)
    if request.client_dedup:
        async with db.read() as conn:
            duplicate = await store.select_message_by_dedup(
                conn, request.org_id, request.client_dedup
            )
        if duplicate is not None:
            raise DuplicateMessage(duplicate)
    profile = await outbox.profiles.get(request.org_id)
    now = outbox.clock.now()
    wants_names = has_variables(request.text) or request.content is not None
    async with db.read() as conn:
        await check_media_within(conn, request.org_id, request.media)
        number = await numbers.find_sending_number_within(conn, request.org_id, request.sender)
        recipient = await _find_recipient(conn, request, wants_names)
        body, content = await compose_within(
            conn, number, recipient, request.text, bool(request.media), request.content, now
        )
    message = NewWhatsApp(
        org_id=request.org_id,
        contact_id=None if recipient.contact is None else recipient.contact.id,
        sender=number.number,
        recipient=recipient.digits,
        body=body,
        content=content,
        price_micro=number.price_micro,
        created_at=now,
        deadline_at=now + timedelta(seconds=profile.delivery_window_seconds),
        client_ref=request.client_ref,
        client_dedup=request.client_dedup,
        client_push_url=request.client_push_url,
    )
    draft = draft_message(
        message, request.media, request.phone if recipient.contact is None else None
    )
    return await intake.submit(draft)
