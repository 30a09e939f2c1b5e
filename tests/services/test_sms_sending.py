"""Accepting SMS: recipients, personalisation, segments, prices, money and clientDedup."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tambuli.clock import FakeClock
from tambuli.contacts import phones
from tambuli.contacts import service as contacts
from tambuli.contacts.models import ContactInput
from tambuli.db.engine import Database
from tambuli.db.schema import contacts as contacts_table
from tambuli.db.schema import messages
from tambuli.errors import (
    DuplicateMessage,
    EmptyMessage,
    InsufficientFunds,
    InvalidPushUrl,
    MessageTooLong,
    MissingSender,
    NoPrice,
    UnknownContact,
)
from tambuli.messaging import pricing
from tambuli.messaging.views import StoredMessage
from tambuli.organizations import profile as profiles
from tests.services.sms_world import PRICE, SmsWorld


@pytest.fixture
def world(fresh_db: Database, clock: FakeClock) -> SmsWorld:
    """The simulator world on a database of the test's own."""
    return SmsWorld(fresh_db, clock)


async def _count(db: Database, table: object) -> int:
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())  # type: ignore[arg-type]


async def test_a_message_to_a_number_is_priced_reserved_and_queued(world: SmsWorld) -> None:
    org = await world.new_org()
    sent = await world.send(org, "+63 917 123 4567", "Hello €uro")
    message = sent.message
    assert message.recipient == "639171234567"
    assert (message.parts, message.price_per_part_micro, message.encoding) == (1, PRICE, "gsm7")
    assert message.deadline_at == message.created_at + timedelta(hours=24)
    assert message.message_id.startswith("SMS20260101T080000-")
    assert message.contact_id is None
    assert await world.balance(org) == 1_000_000 - PRICE
    assert await _count(world.db, contacts_table) == 0


async def test_unicode_text_goes_ucs2_and_says_which_characters_caused_it(
    world: SmsWorld,
) -> None:
    org = await world.new_org()
    sent = await world.send(org, "639171234567", "Salamat po 🙏 ok")
    assert sent.message.encoding == "ucs2"
    assert [(c.position, c.character) for c in sent.segments.non_gsm_characters] == [(11, "🙏")]


async def test_the_contact_route_reuses_the_newest_contact_with_the_number_or_creates_one(
    world: SmsWorld,
) -> None:
    org = await world.new_org()
    phone = phones.normalise_full_number("639171234567")
    await contacts.create_contact(world.db, world.clock, org, phone, ContactInput(first_name="Old"))
    world.clock.advance(timedelta(seconds=1))
    newest = await contacts.create_contact(
        world.db, world.clock, org, phone, ContactInput(first_name="Ana")
    )
    sent = await world.send(org, "639171234567", "Hi {{contact.firstName}}", use_contacts=True)
    assert sent.message.contact_id == newest.id
    assert sent.message.body == "Hi Ana"
    created = await world.send(org, "639181234567", "Hi {{contact.firstName}}!", use_contacts=True)
    assert created.message.body == "Hi !"
    assert created.message.contact_id is not None
    contact = await contacts.get_contact(world.db, org, created.message.contact_id)
    assert contact.phone == "639181234567"
    assert contact.last_use_at == world.clock.now()


async def test_a_contact_id_must_name_a_contact_of_the_organization(world: SmsWorld) -> None:
    org = await world.new_org()
    other = await world.new_org()
    phone = phones.normalise_full_number("639171234567")
    theirs = await contacts.create_contact(world.db, world.clock, other, phone, ContactInput())
    with pytest.raises(UnknownContact):
        await world.send(org, "", "Hi", use_contacts=True, contact_id=theirs.id)
    assert await _count(world.db, messages) == 0


async def test_personalisation_is_rendered_before_parts_and_price_are_counted(
    world: SmsWorld,
) -> None:
    org = await world.new_org()
    phone = phones.normalise_full_number("639171234567")
    contact = await contacts.create_contact(
        world.db, world.clock, org, phone, ContactInput(first_name="Ä" * 80)
    )
    sent = await world.send(
        org, "", "{{contact.firstName}}" + "x" * 100, use_contacts=True, contact_id=contact.id
    )
    assert sent.message.body == "Ä" * 80 + "x" * 100
    assert sent.message.parts == 2
    assert await world.balance(org) == 1_000_000 - 2 * PRICE


async def test_the_phonenumber_route_sends_variables_as_written(world: SmsWorld) -> None:
    org = await world.new_org()
    sent = await world.send(org, "639171234567", "Hi {{contact.firstName}}")
    assert sent.message.body == "Hi {{contact.firstName}}"


async def test_more_than_seven_parts_is_refused_and_nothing_is_charged(world: SmsWorld) -> None:
    org = await world.new_org()
    seven = "a" * (7 * 153)
    assert (await world.send(org, "639171234567", seven)).message.parts == 7
    with pytest.raises(MessageTooLong) as refused:
        await world.send(org, "639171234567", seven + "a")
    assert refused.value.error_code == "sms.toolong"
    assert await world.balance(org) == 1_000_000 - 7 * PRICE


async def test_without_enough_balance_nothing_is_queued(world: SmsWorld) -> None:
    org = await world.new_org(balance_micro=PRICE - 1)
    with pytest.raises(InsufficientFunds):
        await world.send(org, "639171234567")
    assert await _count(world.db, messages) == 0
    assert await world.balance(org) == PRICE - 1


async def test_a_refused_send_to_a_new_number_creates_no_contact(world: SmsWorld) -> None:
    org = await world.new_org(balance_micro=PRICE - 1)
    with pytest.raises(InsufficientFunds):
        await world.send(org, "639171234567", use_contacts=True)
    assert await _count(world.db, contacts_table) == 0
    assert await _count(world.db, messages) == 0


async def test_concurrent_sends_to_one_new_number_share_the_contact_they_create(
    world: SmsWorld,
) -> None:
    org = await world.new_org()
    sent = await asyncio.gather(
        *(world.send(org, "639171234567", f"Hi {n}", use_contacts=True) for n in range(20))
    )
    assert len({s.message.contact_id for s in sent}) == 1
    assert await _count(world.db, contacts_table) == 1
    assert await world.balance(org) == 1_000_000 - 20 * PRICE


async def test_a_destination_without_a_price_is_refused(world: SmsWorld) -> None:
    org = await world.new_org()
    with pytest.raises(NoPrice):
        await world.send(org, "+4915123456789")
    await pricing.set_price(world.db, world.clock, "DE", "", 70_000)
    assert (await world.send(org, "+4915123456789")).message.price_per_part_micro == 70_000


async def test_an_operator_price_for_a_prefix_overrides_the_shipped_default(
    world: SmsWorld,
) -> None:
    org = await world.new_org()
    await pricing.set_price(world.db, world.clock, "PH", "63917", 15_000)
    assert (await world.send(org, "639171234567")).message.price_per_part_micro == 15_000
    assert (await world.send(org, "639181234567")).message.price_per_part_micro == PRICE
    await pricing.remove_price(world.db, "PH", "63917")
    assert (await world.send(org, "639171234567")).message.price_per_part_micro == PRICE


async def test_the_organizations_default_sender_id_is_used_when_from_is_left_out(
    world: SmsWorld,
) -> None:
    org = await world.new_org()
    with pytest.raises(MissingSender):
        await world.send(org, "639171234567", sender=None)
    await profiles.update_profile(world.db, org, default_sender_id="COOP")
    assert (await world.send(org, "639171234567", sender=None)).message.sender == "COOP"
    assert (await world.send(org, "639171234567", sender="Clinic")).message.sender == "Clinic"


async def test_the_delivery_window_is_a_per_organization_setting(world: SmsWorld) -> None:
    org = await world.new_org()
    await profiles.update_profile(world.db, org, delivery_window_seconds=3600)
    sent = await world.send(org, "639171234567")
    assert sent.message.deadline_at == sent.message.created_at + timedelta(hours=1)


@pytest.mark.parametrize("text", ["", "   "])
async def test_an_empty_message_is_refused(world: SmsWorld, text: str) -> None:
    org = await world.new_org()
    with pytest.raises(EmptyMessage):
        await world.send(org, "639171234567", text)


@pytest.mark.parametrize(
    "url", ["ftp://example.org/x", "not a url", "http://user:pw@example.org/", "http://"]
)
async def test_an_unusable_push_url_is_refused(world: SmsWorld, url: str) -> None:
    org = await world.new_org()
    with pytest.raises(InvalidPushUrl):
        await world.send(org, "639171234567", client_push_url=url)


async def test_a_repeated_client_dedup_returns_the_first_message_and_sends_nothing(
    world: SmsWorld,
) -> None:
    org = await world.new_org()
    other = await world.new_org()
    first = await world.send(org, "639171234567", "one", client_dedup="abc")
    with pytest.raises(DuplicateMessage) as repeated:
        await world.send(org, "639181234567", "two", client_dedup="abc")
    original = repeated.value.original
    assert isinstance(original, StoredMessage)
    assert original.message_id == first.message.message_id
    # Keys are per organization.
    await world.send(other, "639171234567", "one", client_dedup="abc")
    assert await world.balance(org) == 1_000_000 - PRICE


async def test_fifty_concurrent_identical_requests_create_exactly_one_message(
    world: SmsWorld,
) -> None:
    org = await world.new_org()

    async def attempt() -> str:
        try:
            sent = await world.send(org, "639171234567", "once", client_dedup="same-key")
        except DuplicateMessage as exc:
            assert isinstance(exc.original, StoredMessage)
            return "duplicate:" + exc.original.message_id
        return "sent:" + sent.message.message_id

    outcomes = await asyncio.gather(*(attempt() for _ in range(50)))
    sent_ids = [o for o in outcomes if o.startswith("sent:")]
    assert len(sent_ids) == 1
    message_id = sent_ids[0].removeprefix("sent:")
    assert all(o == f"duplicate:{message_id}" for o in outcomes if o not in sent_ids)
    assert await _count(world.db, messages) == 1
    assert await world.balance(org) == 1_000_000 - PRICE
