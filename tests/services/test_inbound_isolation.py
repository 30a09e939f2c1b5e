"""Inbound SMS, poll answers and opt-outs reach one organization or none, never another's.

The rule is in docs/decisions.md ("Inbound SMS reach one organization or none").
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tambuli.campaigns import reply_store, reports
from tambuli.campaigns import service as campaigns
from tambuli.channels.base import InboundSms
from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tambuli.errors import NotFound, SenderOwned
from tambuli.messaging import listing
from tambuli.messaging.inbound import CONVERSATION_WINDOW, list_unmatched_inbound
from tambuli.messaging.models import Direction
from tambuli.messaging.senders import list_senders, register_sender, remove_sender
from tambuli.messaging.store import MessageFilter
from tambuli.organizations.profile import update_profile
from tests.services.campaign_world import CampaignWorld
from tests.services.sms_world import PRICE, RECEIPT_DELAY

REPLYING = "639171230005"
NUMBER = "639171230042"
DRIP = {
    "name": "Tips",
    "kind": "drip",
    "steps": [{"message": "one"}, {"delay": {"unit": "day", "value": 1}, "message": "two"}],
}
QUESTION = {
    "name": "Survey",
    "kind": "poll",
    "steps": [
        {
            "message": "Did you plant? 1 Yes 2 No",
            "choices": ["Yes", "No"],
            "timeout": {"unit": "day", "value": 30},
        }
    ],
}


@pytest.fixture
def world(fresh_db: Database, clock: FakeClock) -> CampaignWorld:
    """The campaign world (the SMS world plus campaigns) on a database of the test's own."""
    return CampaignWorld(fresh_db, clock)


async def _inbound_bodies(world: CampaignWorld, org_id: int) -> list[str]:
    page = await listing.list_messages_after(
        world.db, org_id, MessageFilter(direction=Direction.INGRESS), None, 100
    )
    return [m.body for m in page.messages]


async def _outbound_count(world: CampaignWorld, org_id: int) -> int:
    page = await listing.list_messages_after(
        world.db, org_id, MessageFilter(direction=Direction.EGRESS), None, 100
    )
    return len(page.messages)


def _reply(number: str, body: str, to: str, at: Any, event_id: str = "") -> InboundSms:
    return InboundSms("simulator", number, to, body, at, event_id)


async def test_two_organizations_sharing_an_unregistered_sender_receive_neither_reply(
    world: CampaignWorld,
) -> None:
    first = await world.new_org()
    second = await world.new_org()
    await world.send(first, REPLYING, "Coming tomorrow?", sender="Acme")
    world.clock.advance(timedelta(milliseconds=500))
    await world.send(second, REPLYING, "Your order shipped", sender="Acme")
    await world.deliver()
    world.clock.advance(RECEIPT_DELAY)
    await world.receipts()
    assert await _inbound_bodies(world, second) == []
    assert await _inbound_bodies(world, first) == []
    kept = await list_unmatched_inbound(world.db, 10)
    assert [(k.sender, k.recipient, k.body) for k in kept] == [(REPLYING, "Acme", "YES")] * 2
    assert {k.candidates for k in kept} == {(first, second)}


async def test_a_reply_to_the_only_open_conversation_reaches_its_organization(
    world: CampaignWorld,
) -> None:
    first = await world.new_org()
    second = await world.new_org()
    await world.send(second, REPLYING, "Old news", sender="ACME")
    await world.deliver()
    world.clock.advance(RECEIPT_DELAY)
    await world.receipts()
    # The second organization's conversation closes with the window; then only the first
    # has one with the number, from the same sender ID spelt another way.
    world.clock.advance(CONVERSATION_WINDOW + timedelta(seconds=1))
    await world.send(first, REPLYING, "Coming tomorrow?", sender="Acme")
    await world.deliver()
    world.clock.advance(RECEIPT_DELAY)
    await world.receipts()
    assert await _inbound_bodies(world, first) == ["YES"]
    assert await _inbound_bodies(world, second) == ["YES"]
    assert await list_unmatched_inbound(world.db, 10) == []


async def test_a_reply_after_the_conversation_window_is_kept_for_the_operator(
    world: CampaignWorld,
) -> None:
    org = await world.new_org()
    await world.send(org, NUMBER, "Hello", sender="Acme")
    world.clock.advance(CONVERSATION_WINDOW + timedelta(minutes=1))
    await world.events.record_inbound([_reply(NUMBER, "hi", "Acme", world.clock.now())])
    assert await _inbound_bodies(world, org) == []
    [kept] = await list_unmatched_inbound(world.db, 10)
    assert (kept.body, kept.candidates) == ("hi", ())


async def test_an_unmatched_reply_delivered_twice_is_kept_once(world: CampaignWorld) -> None:
    reply = _reply(NUMBER, "who is this?", "Nobody", world.clock.now(), "op-7")
    await world.events.record_inbound([reply])
    await world.events.record_inbound([reply])
    assert len(await list_unmatched_inbound(world.db, 10)) == 1


async def test_a_registered_sender_is_refused_to_other_organizations_and_nothing_is_charged(
    world: CampaignWorld,
) -> None:
    owner = await world.new_org()
    other = await world.new_org()
    await register_sender(world.db, world.clock, owner, "Acme")
    for spelling in ("Acme", "ACME", " acme "):
        with pytest.raises(SenderOwned) as refused:
            await world.send(other, NUMBER, sender=spelling)
        assert refused.value.error_code == "sms.senderowned"
    with pytest.raises(SenderOwned):
        await world.send(other, NUMBER, sender="Acme", use_contacts=True)
    await update_profile(world.db, other, default_sender_id="acme")
    with pytest.raises(SenderOwned):
        await world.send(other, NUMBER, sender=None)
    assert await world.balance(other) == 1_000_000
    assert await _outbound_count(world, other) == 0
    await world.send(owner, NUMBER, sender="ACME")
    assert await world.balance(owner) == 1_000_000 - PRICE


async def test_a_registered_number_sender_folds_its_plus(world: CampaignWorld) -> None:
    owner = await world.new_org()
    other = await world.new_org()
    await register_sender(world.db, world.clock, owner, "+639170000777")
    with pytest.raises(SenderOwned):
        await world.send(other, NUMBER, sender="639170000777")


async def test_every_reply_to_a_registered_sender_goes_to_its_owner_alone(
    world: CampaignWorld,
) -> None:
    owner = await world.new_org()
    other = await world.new_org()
    # Sent before the registration, so the owner is not the only one who ever used the ID.
    await world.send(other, REPLYING, "Before", sender="Acme")
    await register_sender(world.db, world.clock, owner, "Acme")
    await world.deliver()
    world.clock.advance(RECEIPT_DELAY)
    await world.receipts()
    # A handset writing first, with no conversation at all, reaches the owner too.
    await world.events.record_inbound([_reply(NUMBER, "INFO", "acme", world.clock.now())])
    assert await _inbound_bodies(world, owner) == ["INFO", "YES"]
    assert await _inbound_bodies(world, other) == []
    assert await list_unmatched_inbound(world.db, 10) == []


async def test_a_sender_has_one_owner_until_the_operator_removes_it(world: CampaignWorld) -> None:
    owner = await world.new_org()
    other = await world.new_org()
    first = await register_sender(world.db, world.clock, owner, "Acme")
    assert await register_sender(world.db, world.clock, owner, "ACME") == first
    with pytest.raises(SenderOwned):
        await register_sender(world.db, world.clock, other, "acme")
    assert [(s.sender, s.org_id) for s in await list_senders(world.db)] == [("Acme", owner)]
    assert await list_senders(world.db, other) == []
    await remove_sender(world.db, "ACME")
    with pytest.raises(NotFound):
        await remove_sender(world.db, "Acme")
    await register_sender(world.db, world.clock, other, "acme")
    assert [(s.sender, s.org_id) for s in await list_senders(world.db)] == [("acme", other)]


async def test_a_stop_to_a_shared_sender_opts_the_number_out_of_no_organization(
    world: CampaignWorld,
) -> None:
    first = await world.new_campaign_org()
    second = await world.new_campaign_org()
    one = await world.subscribe(first, await world.launched(first, DRIP), NUMBER)
    two = await world.subscribe(second, await world.launched(second, DRIP), NUMBER)
    await world.fire()
    await world.reply(NUMBER, "STOP")
    for org_id, run_id in ((first, one.run_id), (second, two.run_id)):
        async with world.db.read() as conn:
            assert await reply_store.select_opted_out(conn, org_id, [NUMBER]) == set()
        assert (await world.run_row(run_id)).status == "active"
        assert await _inbound_bodies(world, org_id) == []
    [kept] = await list_unmatched_inbound(world.db, 10)
    assert (kept.body, kept.candidates) == ("STOP", (first, second))


async def test_a_question_waiting_past_the_window_still_gets_its_answer(
    world: CampaignWorld,
) -> None:
    org = await world.new_campaign_org()
    campaign_id = await world.launched(org, QUESTION)
    run = await world.subscribe(org, campaign_id, NUMBER)
    await world.fire()
    world.clock.advance(CONVERSATION_WINDOW + timedelta(days=3))
    await world.reply(NUMBER, "1")
    answers = await reports.list_answers(world.db, org, campaign_id, run.run_id, 0, 10)
    assert [a.answer for _, a in answers] == ["Yes"]


async def test_a_poll_answer_is_nobodys_while_another_organization_talks_from_the_sender(
    world: CampaignWorld,
) -> None:
    asking = await world.new_campaign_org()
    talking = await world.new_campaign_org()
    campaign_id = await world.launched(asking, QUESTION)
    run = await world.subscribe(asking, campaign_id, NUMBER)
    await world.fire()
    world.clock.advance(CONVERSATION_WINDOW + timedelta(days=3))
    await world.send(talking, NUMBER, "Sale today", sender="Tambuli")
    await world.reply(NUMBER, "1")
    assert await reports.list_answers(world.db, asking, campaign_id, run.run_id, 0, 10) == []
    assert await _inbound_bodies(world, talking) == []
    assert await _inbound_bodies(world, asking) == []
    [kept] = await list_unmatched_inbound(world.db, 10)
    assert kept.candidates == (asking, talking)


async def test_a_campaign_cannot_launch_or_send_from_another_organizations_sender(
    world: CampaignWorld,
) -> None:
    owner = await world.new_campaign_org()
    other = await world.new_campaign_org()
    await register_sender(world.db, world.clock, owner, "Acme")
    draft = await campaigns.create_campaign(
        world.db, world.clock, other, {**DRIP, "sender": "ACME"}
    )
    with pytest.raises(SenderOwned):
        await campaigns.launch_campaign(world.db, world.clock, other, draft.id)
    assert (await campaigns.get_campaign(world.db, other, draft.id)).state.value == "draft"
    # A live campaign cannot be switched to the owned sender either.
    campaign_id = await world.launched(other, DRIP)
    with pytest.raises(SenderOwned):
        await campaigns.update_campaign(
            world.db, world.clock, other, campaign_id, {"sender": "Acme"}
        )
    assert (await campaigns.get_campaign(world.db, other, campaign_id)).rules.sender == ""
    # Launched from a sender that someone registers afterwards: new subscriptions are refused
    # and the step of a run already there is refused for good, ending the run.
    campaign_id = await world.launched(other, {**DRIP, "sender": "Late"})
    run = await world.subscribe(other, campaign_id, NUMBER)
    await register_sender(world.db, world.clock, owner, "Late")
    with pytest.raises(SenderOwned):
        await world.subscribe(other, campaign_id, "639171239999")
    await world.fire()
    row = await world.run_row(run.run_id)
    assert row.status == "error" and row.last_error.startswith("sms.senderowned")
    assert await _outbound_count(world, other) == 0
    assert await world.balance(other) == 10_000_000
