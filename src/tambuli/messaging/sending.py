"""Accepting an SMS: resolve the recipient, render, segment, price, reserve and enqueue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.billing import service as billing
from tambuli.clock import Clock
from tambuli.contacts import service as contacts
from tambuli.contacts.models import Contact, ContactInput, PhoneNumber
from tambuli.db.engine import Database
from tambuli.errors import (
    DuplicateMessage,
    EmptyMessage,
    InvalidPushUrl,
    MessageTooLong,
    NoPrice,
    UnknownContact,
)
from tambuli.messaging import senders, store
from tambuli.messaging.intake import Draft, SmsIntake
from tambuli.messaging.models import MAX_MESSAGE_LENGTH, choose_sender
from tambuli.messaging.personalisation import has_variables, render_for_contact
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


def _check_request(request: SendRequest) -> None:
    if not request.text.strip():
        raise EmptyMessage()
    if len(request.text) > MAX_MESSAGE_LENGTH:
        raise MessageTooLong(f"The message is longer than {MAX_MESSAGE_LENGTH} characters")
    check_storable_text("message", request.text)
    check_client_text("clientDedup", request.client_dedup)
    check_client_text("clientRef", request.client_ref, limit=1000)
    if request.client_push_url:
        try:
            check_webhook_url(request.client_push_url)
        except ValueError as exc:
            raise InvalidPushUrl(f"clientPushURL: {exc}", {"field": "clientPushURL"}) from exc


async def _find_duplicate(db: Database, request: SendRequest) -> StoredMessage | None:
    if not request.client_dedup:
        return None
    async with db.read() as conn:
        return await store.select_message_by_dedup(conn, request.org_id, request.client_dedup)


async def _resolve_contact(
    conn: AsyncConnection, clock: Clock, request: SendRequest
) -> Contact | None:
    if not request.use_contacts:
        return None
    if request.contact_id is not None:
        contact = await contacts.get_contact_within(conn, request.org_id, request.contact_id)
        if contact is None:
            raise UnknownContact(f"No contact with ID {request.contact_id} in this organization")
        return contact
    assert request.phone is not None
    contact, _ = await contacts.find_or_create_contact_with_phone_within(
        conn, clock, request.org_id, request.phone, ContactInput()
    )
    return contact


def require_price(price_micro: int | None, digits: str, region: str) -> int:
    """The price per part of a destination, or NoPrice when it has none."""
    if price_micro is None:
        raise NoPrice(
            f"There is no SMS price for +{digits} ({region or 'unknown country'})",
            {"country": region},
        )
    return price_micro


async def _render(conn: AsyncConnection, request: SendRequest, contact: Contact | None) -> str:
    if contact is None or not has_variables(request.text):
        return request.text
    names = await contacts.read_custom_field_names_within(conn, request.org_id)
    return render_for_contact(request.text, contact, names)


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


async def _enqueue_for_contact(
    conn: AsyncConnection, outbox: Outbox, request: SendRequest, profile: OrgProfile
) -> SentMessage:
    clock = outbox.clock
    contact = await _resolve_contact(conn, clock, request)
    assert contact is not None
    digits = contact.phone
    # The price list is read on this transaction's connection when stale: asking the pool for
    # a second connection here starved it under load.
    found_price = await outbox.prices.price_for_within(conn, contact.region, digits)
    price_micro = require_price(found_price, digits, contact.region)
    body = await _render(conn, request, contact)
    new, segments = _compose(
        request, profile, contact, body, digits, price_micro, clock.now(), outbox.default_sender_id
    )
    await senders.check_sender_within(conn, request.org_id, new.sender)
    total = segments.part_count * price_micro
    reservation_id = None
    if total > 0:
        reservation_id = await billing.reserve_funds_within(
            conn, clock, request.org_id, total, RESERVATION_REASON, f"sms to +{digits}"
        )
    row_id = await store.insert_queued_message(conn, new, reservation_id)
    if request.client_dedup:
        await store.insert_dedup_key(conn, request.org_id, request.client_dedup, row_id)
    if contact is not None:
        await contacts.mark_contact_used_within(conn, clock, request.org_id, contact.id)
    return SentMessage(store.queued_message(row_id, new), segments)


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
    does not cover it; in either case nothing is queued. Sends to a number are written in
    batches with concurrent ones (see intake.py); sends to contacts one by one, since finding
    or creating the contact belongs in the same transaction.
    """
    db, clock = outbox.db, outbox.clock
    _check_request(request)
    duplicate = await _find_duplicate(db, request)
    if duplicate is not None:
        raise DuplicateMessage(duplicate)
    profile = await outbox.profiles.get(request.org_id)
    if not request.use_contacts:
        assert request.phone is not None
        digits = request.phone.digits
        region = request.phone.region
        price_micro = require_price(await outbox.prices.price_for(region, digits), digits, region)
        placeholder = clock.now()
        new, segments = _compose(
            request,
            profile,
            None,
            request.text,
            digits,
            price_micro,
            placeholder,
            outbox.default_sender_id,
        )
        window = timedelta(seconds=profile.delivery_window_seconds)
        stored = await outbox.intake.submit(Draft(new, window, segments))
        return SentMessage(stored, segments)
    try:
        async with db.write() as conn:
            return await _enqueue_for_contact(conn, outbox, request, profile)
    except IntegrityError:
        # Another request with the same clientDedup committed first (the primary key of
        # message_dedup refused ours, and our transaction rolled back whole).
        duplicate = await _find_duplicate(db, request)
        if duplicate is None:
            raise
        raise DuplicateMessage(duplicate) from None


def open_outbox(db: Database, clock: Clock, default_sender_id: str) -> Outbox:
    """The Outbox of one process, with its caches, its intake and the server's default sender."""
    return Outbox(
        db, clock, PriceBook(db), ProfileCache(db), SmsIntake(db, clock), default_sender_id
    )
