"""Sending WhatsApp messages: every rule checked before anything is queued, money, dedup."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from tambuli.channels.whatsapp.base import InboundWhatsApp, MediaKind
from tambuli.clock import FakeClock
from tambuli.contacts import phones
from tambuli.contacts import service as contacts
from tambuli.contacts.models import ContactInput
from tambuli.db.engine import Database
from tambuli.errors import (
    DuplicateMessage,
    EmptyMessage,
    InsufficientFunds,
    InvalidTemplateContent,
    InvalidWhatsAppMedia,
    TemplateRequired,
    UnknownBusinessNumber,
    UnknownContact,
    UnknownTemplate,
)
from tambuli.messaging.models import MessageStatus
from tambuli.whatsapp import numbers
from tambuli.whatsapp.models import NewWhatsApp
from tambuli.whatsapp.sending import draft_message
from tambuli.whatsapp.views import StoredWhatsApp
from tests.services.whatsapp_world import JPEG, PRICE, WhatsAppWorld

CONTACT = "639171230010"


@pytest.fixture
def world(fresh_db: Database, clock: FakeClock) -> WhatsAppWorld:
    """The WhatsApp world on a database of the test's own."""
    return WhatsAppWorld(fresh_db, clock)


async def _contact_writes(world: WhatsAppWorld, number: str, sender: str = CONTACT) -> None:
    await world.events.record_inbound(
        [
            InboundWhatsApp(
                channel="simulator",
                recipient=number,
                sender=sender,
                text="Hi",
                at=world.clock.now(),
                operator_event_id=f"in-{world.clock.now().timestamp()}-{sender}",
                profile_name="Maria",
            )
        ]
    )


async def _count_contacts(world: WhatsAppWorld, org_id: int) -> int:
    return len(await contacts.list_contacts_after(world.db, org_id, 0, 100))


async def test_a_template_message_is_queued_priced_and_creates_its_contact(
    world: WhatsAppWorld,
) -> None:
    org, number = await world.new_org()
    sent = await world.template(org, number, f"+{CONTACT}", client_ref="r1")
    assert sent.status == MessageStatus.QUEUED
    assert sent.message_id.startswith("WA") and sent.sender == number
    assert sent.recipient == CONTACT and sent.contact_id is not None
    assert sent.content == {
        "name": "order_ready",
        "language": "en",
        "parameters": ["Ana", "42"],
        "body": "Hi Ana, order 42 is ready",
    }
    assert sent.shown_text == "Hi Ana, order 42 is ready"
    assert sent.deadline_at == world.clock.now() + timedelta(days=1)
    assert await world.balance(org) == 1_000_000 - PRICE


async def test_free_form_needs_the_contact_to_have_written_within_24_hours(
    world: WhatsAppWorld,
) -> None:
    org, number = await world.new_org()
    with pytest.raises(TemplateRequired) as refused:
        await world.send(org, number, CONTACT, "Hello")
    assert refused.value.error_code == "whatsapp.templaterequired"
    assert await _count_contacts(world, org) == 0  # refused: nothing created
    await _contact_writes(world, number)
    sent = await world.send(org, number, CONTACT, "Hello {{contact.firstName}}")
    assert sent.body == "Hello Maria"  # personalised from the contact the inbound created
    world.clock.advance(timedelta(hours=24))
    with pytest.raises(TemplateRequired):
        await world.send(org, number, CONTACT, "Hello again")
    assert await world.balance(org) == 1_000_000 - PRICE


async def test_from_must_be_a_business_number_of_this_organization(
    world: WhatsAppWorld,
) -> None:
    org, number = await world.new_org()
    _other, other_number = await world.new_org()
    for sender in (other_number, "15550009999", "", "Tambuli"):
        with pytest.raises(UnknownBusinessNumber) as refused:
            await world.template(org, sender, CONTACT)
        assert refused.value.error_code == "whatsapp.unknownsender"
    assert await world.balance(org) == 1_000_000
    assert (await world.template(org, f"+{number}", CONTACT)).sender == number


async def test_templates_must_be_registered_for_the_number_with_their_parameter_count(
    world: WhatsAppWorld,
) -> None:
    org, number = await world.new_org()
    with pytest.raises(UnknownTemplate):
        await world.send(org, number, CONTACT, "", content={"name": "nope", "language": "en"})
    with pytest.raises(UnknownTemplate):  # registered in English only
        await world.send(
            org, number, CONTACT, "", content={"name": "order_ready", "language": "fil"}
        )
    with pytest.raises(InvalidTemplateContent) as wrong_count:
        await world.send(
            org,
            number,
            CONTACT,
            "",
            content={"name": "order_ready", "language": "en", "parameters": ["Ana"]},
        )
    assert wrong_count.value.error_code == "whatsapp.invalidcontent"
    for content in ("order_ready", {"name": "order_ready"}, {"name": 1, "language": "en"}):
        with pytest.raises(InvalidTemplateContent):
            await world.send(org, number, CONTACT, "", content=content)
    assert await world.balance(org) == 1_000_000


async def test_media_must_be_a_file_of_the_organization_that_whatsapp_takes(
    world: WhatsAppWorld,
) -> None:
    org, number = await world.new_org()
    other, _ = await world.new_org()
    photo = await world.upload(org, "photo.jpg", JPEG)
    theirs = await world.upload(other, "theirs.jpg", JPEG)
    big = await world.upload(org, "big.jpg", JPEG + b"\x00" * (5 * 1024 * 1024))
    pdf = await world.upload(org, "leaflet.pdf", b"%PDF-1.4\n" + b"x" * 100)
    await _contact_writes(world, number)
    refusals = [
        {MediaKind.IMAGE: theirs},  # another organization's
        {MediaKind.IMAGE: "missing.jpg"},
        {MediaKind.IMAGE: big},  # over 5 MB
        {MediaKind.IMAGE: pdf},  # not an image
        {MediaKind.VIDEO: photo},
        {MediaKind.IMAGE: photo, MediaKind.DOCUMENT: pdf},  # one file per message
    ]
    for media in refusals:
        with pytest.raises(InvalidWhatsAppMedia) as refused:
            await world.send(org, number, CONTACT, "See this", media=media)
        assert refused.value.error_code == "whatsapp.invalidmedia"
    sent = await world.send(org, number, CONTACT, "", media={MediaKind.DOCUMENT: pdf})
    assert sent.media == ((MediaKind.DOCUMENT, pdf),)
    sent = await world.send(org, number, CONTACT, "Caption", media={MediaKind.IMAGE: photo})
    assert sent.media == ((MediaKind.IMAGE, photo),)
    with pytest.raises(EmptyMessage):
        await world.send(org, number, CONTACT, "  ")


async def test_a_short_balance_is_refused_with_nothing_queued_or_created(
    world: WhatsAppWorld,
) -> None:
    org, number = await world.new_org(balance_micro=PRICE - 1)
    with pytest.raises(InsufficientFunds):
        await world.template(org, number, CONTACT)
    assert await _count_contacts(world, org) == 0
    assert await world.balance(org) == PRICE - 1


async def test_a_repeated_client_dedup_answers_with_the_first_message(
    world: WhatsAppWorld,
) -> None:
    org, number = await world.new_org()
    first = await world.template(org, number, CONTACT, client_dedup="k1")
    with pytest.raises(DuplicateMessage) as repeated:
        await world.template(org, number, "639171230099", client_dedup="k1")
    assert repeated.value.original == first
    other, other_number = await world.new_org()
    await world.template(other, other_number, CONTACT, client_dedup="k1")  # per organization
    assert await world.balance(org) == 1_000_000 - PRICE


async def test_an_unknown_contact_id_is_refused(world: WhatsAppWorld) -> None:
    org, number = await world.new_org()
    other, other_number = await world.new_org()
    theirs = await world.template(other, other_number, CONTACT)
    with pytest.raises(UnknownContact):
        await world.send(org, number, None, "", contact_id=theirs.contact_id, content=_content())
    mine = await world.template(org, number, CONTACT)
    again = await world.send(org, number, None, "", contact_id=mine.contact_id, content=_content())
    assert again.contact_id == mine.contact_id and again.recipient == CONTACT


def _content() -> dict[str, object]:
    return {"name": "order_ready", "language": "en", "parameters": ["A", "1"]}


async def test_concurrent_sends_to_a_new_number_create_one_contact(world: WhatsAppWorld) -> None:
    org, number = await world.new_org()
    sent = await asyncio.gather(*(world.template(org, number, "639171230042") for _ in range(30)))
    assert len({m.contact_id for m in sent}) == 1
    assert await _count_contacts(world, org) == 1
    assert await world.balance(org) == 1_000_000 - 30 * PRICE


async def test_concurrent_sends_with_one_client_dedup_queue_one_message(
    world: WhatsAppWorld,
) -> None:
    org, number = await world.new_org()
    answers = await asyncio.gather(
        *(world.template(org, number, CONTACT, client_dedup="same") for _ in range(30)),
        return_exceptions=True,
    )
    queued = [a for a in answers if not isinstance(a, BaseException)]
    assert len(queued) == 1
    assert all(isinstance(a, DuplicateMessage) for a in answers if a not in queued)
    assert await world.balance(org) == 1_000_000 - PRICE


async def test_concurrent_sends_share_commits_and_a_short_balance_refuses_only_what_does_not_fit(
    world: WhatsAppWorld,
) -> None:
    rich, rich_number = await world.new_org()
    poor, poor_number = await world.new_org(balance_micro=2 * PRICE)
    commits = world.db.write_transactions
    answers = await asyncio.gather(
        *(world.template(poor, poor_number, f"63917123{i:04d}") for i in range(3)),
        *(world.template(rich, rich_number, f"63917124{i:04d}") for i in range(20)),
        return_exceptions=True,
    )
    assert world.db.write_transactions - commits < len(answers)  # batches, not one each
    poor_answers, rich_answers = answers[:3], answers[3:]
    assert [type(a) for a in poor_answers].count(InsufficientFunds) == 1
    assert all(isinstance(a, StoredWhatsApp) for a in rich_answers)
    # The refused send holds no money and created no contact; the others are paid for.
    assert await world.balance(poor) == 0
    assert await _count_contacts(world, poor) == 2
    assert await world.balance(rich) == 1_000_000 - 20 * PRICE
    assert await _count_contacts(world, rich) == 20


async def test_a_repeated_client_dedup_within_one_batch_answers_with_the_message_that_took_it(
    world: WhatsAppWorld,
) -> None:
    org, number = await world.new_org()
    answers = await asyncio.gather(
        world.template(org, number, CONTACT, client_dedup="k"),
        world.template(org, number, "639171230099", client_dedup="k"),
        world.template(org, number, "639171230098"),
        return_exceptions=True,
    )
    queued = [a for a in answers if isinstance(a, StoredWhatsApp)]
    repeats = [a for a in answers if isinstance(a, DuplicateMessage)]
    assert len(queued) == 2 and len(repeats) == 1
    [taken] = [m for m in queued if m.client_dedup == "k"]
    assert repeats[0].original == taken
    assert await world.balance(org) == 1_000_000 - 2 * PRICE


async def test_a_number_that_got_a_contact_after_its_send_was_checked_is_sent_to_that_contact(
    world: WhatsAppWorld,
) -> None:
    org, number = await world.new_org()
    phone = phones.normalise_full_number(f"+{CONTACT}")
    async with world.db.read() as conn:
        sender = await numbers.find_sending_number_within(conn, org, number)
    now = world.clock.now()
    # Checked while the number had no contact; one is created before the batch is written.
    message = NewWhatsApp(
        org_id=org,
        contact_id=None,
        sender=sender.number,
        recipient=CONTACT,
        body="Hi",
        content=None,
        price_micro=sender.price_micro,
        created_at=now,
        deadline_at=now,
    )
    draft = draft_message(message, {}, phone)
    made = await contacts.create_contact(world.db, world.clock, org, phone, ContactInput())
    sent = await world.intake.submit(draft)
    assert sent.contact_id == made.id
    assert await _count_contacts(world, org) == 1
