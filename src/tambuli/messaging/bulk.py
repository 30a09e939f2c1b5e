"""One text to many numbers or contacts in one request (the legacy `POST /api/v1/messages/sms`).

The messages are written the way every send is: drafts priced and segmented here, then one
`write_drafts_within` (numbers) or the campaigns' `enqueue_contact_messages_within` (contacts),
in a single transaction. The request is paid for whole or not at all: when the balance does
not cover every message, nothing is queued.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from tambuli.contacts import phones
from tambuli.contacts import service as contacts
from tambuli.contacts.models import PhoneNumber
from tambuli.errors import (
    InsufficientFunds,
    InvalidField,
    TambuliError,
    UnknownContact,
)
from tambuli.messaging import senders
from tambuli.messaging.contact_batches import ContactSms, enqueue_contact_messages_within
from tambuli.messaging.intake import Draft, write_drafts_within
from tambuli.messaging.models import choose_sender
from tambuli.messaging.sending import Outbox, check_message_text, compose_message, require_price
from tambuli.messaging.views import StoredMessage
from tambuli.organizations.profile import OrgProfile

MAX_RECIPIENTS = 5000


@dataclass(frozen=True)
class BulkSend:
    """One text for many recipients: numbers as given, or contact IDs (exactly one is used)."""

    org_id: int
    text: str
    sender: str | None
    numbers: tuple[str, ...] = ()
    contact_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class BulkOutcome:
    """What became of one recipient: the message queued, or why none was."""

    # The number in international digits (as given when it is not a number at all).
    recipient: str
    contact_id: int
    message: StoredMessage | None = None
    error: TambuliError | None = None


async def send_bulk_sms(outbox: Outbox, request: BulkSend) -> list[BulkOutcome]:
    """Queue the text for every distinct recipient, in the order given; one outcome each.

    A recipient that cannot be sent to (not a number, no price, no such contact) fails alone;
    a problem of the whole request (text, sender, balance) raises and queues nothing.
    """
    check_message_text(request.text)
    count = len(request.numbers) + len(request.contact_ids)
    if count == 0:
        raise InvalidField("No recipients given", {"field": "recipients"})
    if count > MAX_RECIPIENTS:
        raise InvalidField(
            f"At most {MAX_RECIPIENTS} recipients per request", {"field": "recipients"}
        )
    profile = await outbox.profiles.get(request.org_id)
    sender = choose_sender(request.sender, profile.default_sender_id, outbox.default_sender_id)
    if request.contact_ids:
        return await _send_to_contacts(outbox, request.org_id, sender, request)
    return await _send_to_numbers(outbox, profile, sender, request)


async def _send_to_numbers(
    outbox: Outbox, profile: OrgProfile, sender: str, request: BulkSend
) -> list[BulkOutcome]:
    outcomes: list[BulkOutcome] = []
    phones_by_digits: dict[str, PhoneNumber] = {}
    for raw in request.numbers:
        try:
            phone = phones.normalise_full_number(raw, with_carrier=False)
        except TambuliError as exc:
            outcomes.append(BulkOutcome(raw.strip(), 0, error=exc))
            continue
        if phone.digits not in phones_by_digits:
            phones_by_digits[phone.digits] = phone
            outcomes.append(BulkOutcome(phone.digits, 0))
    # Prices are read before the transaction: the price book may load them on a connection
    # of its own, and a transaction must not wait for a second connection (db/engine.py).
    prices = {
        digits: await outbox.prices.price_for(phone.region, digits)
        for digits, phone in phones_by_digits.items()
    }
    async with outbox.db.write() as conn:
        await senders.check_sender_within(conn, request.org_id, sender)
        now = outbox.clock.now()
        drafts: list[Draft] = []
        placed: list[int] = []
        for index, outcome in enumerate(outcomes):
            if outcome.error is not None:
                continue
            phone = phones_by_digits[outcome.recipient]
            try:
                price = require_price(prices[phone.digits], phone.digits, phone.region)
            except TambuliError as exc:
                outcomes[index] = BulkOutcome(outcome.recipient, 0, error=exc)
                continue
            # The same text for everyone: a text that cannot be sent refuses the whole request.
            new, segments = compose_message(
                request.org_id,
                sender,
                profile,
                None,
                request.text,
                phone.digits,
                price,
                now,
                server_sender=outbox.default_sender_id,
            )
            drafts.append(Draft(new, _window(profile), segments))
            placed.append(index)
        written = await write_drafts_within(conn, outbox.clock, drafts)
        _refuse_unless_paid(written)
        for index, result in zip(placed, written, strict=True):
            outcomes[index] = _outcome(outcomes[index].recipient, 0, result)
    return outcomes


async def _send_to_contacts(
    outbox: Outbox, org_id: int, sender: str, request: BulkSend
) -> list[BulkOutcome]:
    wanted = list(dict.fromkeys(request.contact_ids))
    async with outbox.db.write() as conn:
        await senders.check_sender_within(conn, org_id, sender)
        found = await contacts.get_contacts_within(conn, wanted)
        outcomes: list[BulkOutcome] = []
        items: list[ContactSms] = []
        placed: list[int] = []
        for contact_id in wanted:
            contact = found.get(contact_id)
            # Another organization's contact looks exactly like one that does not exist.
            if contact is None or contact.org_id != org_id:
                missing = UnknownContact(f"No contact with ID {contact_id} in this organization")
                outcomes.append(BulkOutcome("", contact_id, error=missing))
                continue
            placed.append(len(outcomes))
            outcomes.append(BulkOutcome(contact.phone, contact_id))
            items.append(ContactSms(contact=contact, text=request.text, sender=sender))
        written = await enqueue_contact_messages_within(conn, outbox, items)
        _refuse_unless_paid(written)
        for index, result in zip(placed, written, strict=True):
            outcomes[index] = _outcome(
                outcomes[index].recipient, outcomes[index].contact_id, result
            )
    return outcomes


def _window(profile: OrgProfile) -> timedelta:
    return timedelta(seconds=profile.delivery_window_seconds)


def _refuse_unless_paid(written: list[StoredMessage | TambuliError]) -> None:
    """InsufficientFunds (rolling the whole request back) when any message was not covered."""
    if any(isinstance(result, InsufficientFunds) for result in written):
        raise InsufficientFunds()


def _outcome(recipient: str, contact_id: int, result: StoredMessage | TambuliError) -> BulkOutcome:
    if isinstance(result, StoredMessage):
        return BulkOutcome(recipient, contact_id, message=result)
    return BulkOutcome(recipient, contact_id, error=result)
