"""Accepting an SMS: resolve the recipient, render, segment, price, reserve and enqueue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.clock import Clock
from tambuli.contacts import service as contacts
from tambuli.contacts.models import Contact, PhoneNumber
from tambuli.db.engine import Database
from tambuli.errors import (
    DuplicateMessage,
    EmptyMessage,
    InvalidPushUrl,
    MessageTooLong,
    NoPrice,
    UnknownContact,
)
from tambuli.messaging import store
from tambuli.messaging.intake import Draft, SmsIntake
from tambuli.messaging.models import MAX_MESSAGE_LENGTH, choose_sender
from tambuli.messaging.personalisation import (
    has_variables,
    render_for_contact,
    render_for_new_contact,
)
from tambuli.messaging.pricing import PriceBook
from tambuli.messaging.segments import MAX_PARTS, SegmentedMessage, segment_message
from tambuli.messaging.views import StoredMessage
from tambuli.organizations.profile import OrgProfile, ProfileCache
from tambuli.records import frozen_record
from tambuli.texts import check_client_text, check_storable_text
from tambuli.webhooks.address_guard import check_webhook_url

RESERVATION_REASON = "sms"
MAX_PUSH_URL_LENGTH = 2000


@frozen_record
class SendRequest:
    """A validated-in-shape send request; the rules are applied by send_sms."""

    org_id: int
    text: str
    sender: str | None
    # /sms/contact: a contact ID or a number to find (or create) a contact by.
    # /sms/phonenumber: a number only; contacts are never touched.
    contact_id: int | None
    phone: PhoneNumber | None
    use_contacts: bool
    client_dedup: str = ""
    client_push_url: str = ""
    client_ref: str = ""


@frozen_record
class SentMessage:
    """A message accepted for delivery, with how it was segmented."""

    message: StoredMessage
    segments: SegmentedMessage


def check_message_text(text: str) -> None:
    """Refuse a message text that is empty, too long or not storable."""
    if not text.strip():
        raise EmptyMessage()
    if len(text) > MAX_MESSAGE_LENGTH:
        raise MessageTooLong(f"The message is longer than {MAX_MESSAGE_LENGTH} characters")
    check_storable_text("message", text)


def _check_request(request: SendRequest) -> None:
    check_message_text(request.text)
    check_client_fields(request.client_dedup, request.client_ref, request.client_push_url)


def check_client_fields(client_dedup: str, client_ref: str, client_push_url: str) -> None:
    """Refuse a clientDedup, clientRef or clientPushURL a send request may not carry."""
    check_client_text("clientDedup", client_dedup)
    check_client_text("clientRef", client_ref, limit=1000)
    if client_push_url:
        try:
            check_webhook_url(client_push_url)
        except ValueError as exc:
            raise InvalidPushUrl(f"clientPushURL: {exc}", {"field": "clientPushURL"}) from exc


async def _find_duplicate(db: Database, request: SendRequest) -> StoredMessage | None:
    if not request.client_dedup:
        return None
    async with db.read() as conn:
        return await store.select_message_by_dedup(conn, request.org_id, request.client_dedup)


async def _find_contact(conn: AsyncConnection, request: SendRequest) -> Contact | None:
    """The contact a send to a contact goes to; None for a number that has none yet."""
    if request.contact_id is not None:
        contact = await contacts.get_contact_within(conn, request.org_id, request.contact_id)
        if contact is None:
            raise UnknownContact(f"No contact with ID {request.contact_id} in this organization")
        return contact
    assert request.phone is not None
    return await contacts.find_newest_contact_with_phone_within(
        conn, request.org_id, request.phone.digits
    )


def require_price(price_micro: int | None, digits: str, region: str) -> int:
    """The price per part of a destination, or NoPrice when it has none."""
    if price_micro is None:
        raise NoPrice(
            f"There is no SMS price for +{digits} ({region or 'unknown country'})",
            {"country": region},
        )
    return price_micro


def _compose(
    request: SendRequest,
    profile: OrgProfile,
    contact: Contact | None,
    body: str,
    digits: str,
    price_micro: int,
    now: datetime,
    server_sender: str,
) -> tuple[store.NewMessage, SegmentedMessage]:
    return compose_message(
        request.org_id,
        request.sender,
        profile,
        contact,
        body,
        digits,
        price_micro,
        now,
        server_sender=server_sender,
        client_ref=request.client_ref,
        client_dedup=request.client_dedup,
        client_push_url=request.client_push_url,
    )


def compose_message(
    org_id: int,
    sender: str | None,
    profile: OrgProfile,
    contact: Contact | None,
    body: str,
    digits: str,
    price_micro: int,
    now: datetime,
    *,
    server_sender: str,
    client_ref: str = "",
    client_dedup: str = "",
    client_push_url: str = "",
    campaign_run_id: int | None = None,
) -> tuple[store.NewMessage, SegmentedMessage]:
    """The message to store: sender chosen, text segmented and checked."""
    checked_sender = choose_sender(sender, profile.default_sender_id, server_sender)
    if not body.strip():
        raise EmptyMessage("The message is empty once personalised")
    segments = segment_message(body)
    if segments.part_count > MAX_PARTS:
        raise MessageTooLong(
            f"The message needs {segments.part_count} parts; at most {MAX_PARTS} are allowed",
            {"parts": segments.part_count, "encoding": segments.encoding.value},
        )
    new = store.NewMessage(
        org_id=org_id,
        contact_id=None if contact is None else contact.id,
        sender=checked_sender,
        recipient=digits,
        body=body,
        encoding=segments.encoding.value,
        parts=segments.part_count,
        price_per_part_micro=price_micro,
        client_ref=client_ref,
        client_dedup=client_dedup,
        client_push_url=client_push_url,
        deadline_at=now + timedelta(seconds=profile.delivery_window_seconds),
        created_at=now,
        campaign_run_id=campaign_run_id,
    )
    return new, segments


async def _draft_to_contact(outbox: Outbox, request: SendRequest, profile: OrgProfile) -> Draft:
    """The message to a contact, personalised for it; a number without a contact gets one when
    the message is written (see intake.py), so a refused send creates no contact."""
    async with outbox.db.read() as conn:
        contact = await _find_contact(conn, request)
        names: dict[int, str] = {}
        if contact is not None and has_variables(request.text):
            names = await contacts.read_custom_field_names_within(conn, request.org_id)
    new_contact = None
    if contact is None:
        assert request.phone is not None
        new_contact = request.phone
        digits, region = new_contact.digits, new_contact.region
        body = render_for_new_contact(request.text, digits)
    else:
        digits, region = contact.phone, contact.region
        body = render_for_contact(request.text, contact, names)
    price_micro = require_price(await outbox.prices.price_for(region, digits), digits, region)
    new, segments = _compose(
        request,
        profile,
        contact,
        body,
        digits,
        price_micro,
        outbox.clock.now(),
        outbox.default_sender_id,
    )
    window = timedelta(seconds=profile.delivery_window_seconds)
    return Draft(new, window, segments, new_contact)


@dataclass
class Outbox:
    """What sending needs besides the request: the database, clock, prices, profiles, intake."""

    db: Database
    clock: Clock
    prices: PriceBook
    profiles: ProfileCache
    intake: SmsIntake
    # The server-wide sender ID of messages whose request and organization name none ("": none).
    default_sender_id: str = ""


async def send_sms(outbox: Outbox, request: SendRequest) -> SentMessage:
    """Accept one SMS for delivery: priced, paid for (reserved) and queued in one commit.

    DuplicateMessage when the clientDedup was used before, InsufficientFunds when the balance
    does not cover it; in either case nothing is queued. Every send is written in a batch with
    concurrent ones (see intake.py), which also creates a missing contact.
    """
    db, clock = outbox.db, outbox.clock
    _check_request(request)
    duplicate = await _find_duplicate(db, request)
    if duplicate is not None:
        raise DuplicateMessage(duplicate)
    profile = await outbox.profiles.get(request.org_id)
    if request.use_contacts:
        draft = await _draft_to_contact(outbox, request, profile)
    else:
        assert request.phone is not None
        digits = request.phone.digits
        region = request.phone.region
        price_micro = require_price(await outbox.prices.price_for(region, digits), digits, region)
        new, segments = _compose(
            request,
            profile,
            None,
            request.text,
            digits,
            price_micro,
            clock.now(),
            outbox.default_sender_id,
        )
        window = timedelta(seconds=profile.delivery_window_seconds)
        draft = Draft(new, window, segments)
    stored = await outbox.intake.submit(draft)
    return SentMessage(stored, draft.segments)


def open_outbox(db: Database, clock: Clock, default_sender_id: str) -> Outbox:
    """The Outbox of one process, with its caches, its intake and the server's default sender."""
    return Outbox(
        db, clock, PriceBook(db), ProfileCache(db), SmsIntake(db, clock), default_sender_id
    )
