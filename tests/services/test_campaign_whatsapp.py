"""Campaign steps sent on WhatsApp: fired through the WhatsApp send path and its simulator."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tambuli.billing import service as billing
from tambuli.campaigns import reports
from tambuli.campaigns import service as campaigns
from tambuli.campaigns.replies import handle_replies
from tambuli.channels.whatsapp.base import InboundWhatsApp
from tambuli.clock import FakeClock
from tambuli.contacts.models import ContactInput
from tambuli.db.engine import Database
from tambuli.db.schema import whatsapp_message_files, whatsapp_messages
from tambuli.errors import (
    FileInUse,
    InvalidField,
    InvalidTemplateContent,
    InvalidWhatsAppMedia,
    TambuliError,
    UnknownBusinessNumber,
    UnknownTemplate,
)
from tambuli.files import service as files
from tambuli.organizations.profile import update_profile
from tambuli.whatsapp import numbers
from tests.services.campaign_world import CampaignWorld
from tests.services.sms_world import PRICE as SMS_PRICE
from tests.services.whatsapp_world import JPEG, PRICE, STATUS_DELAY, WhatsAppWorld

ANA, BEN = "639171230010", "639171230020"
TEMPLATE = {
    "name": "order_ready",
    "language": "en",
    "parameters": ["{{contact.firstName}}", "42"],
}


@pytest.fixture
def worlds(fresh_db: Database, clock: FakeClock) -> tuple[CampaignWorld, WhatsAppWorld]:
    """The campaign world and the WhatsApp world on one database of the test's own."""
    return CampaignWorld(fresh_db, clock), WhatsAppWorld(fresh_db, clock)


def whatsapp_step(number: str, **fields: Any) -> dict[str, Any]:
    """A WhatsApp step from `number`."""
    return {"channel": "whatsapp", "from": number, **fields}


async def chats(world: WhatsAppWorld, recipient: str | None = None) -> list[Any]:
    """Outbound WhatsApp rows (to one number), oldest first."""
    t = whatsapp_messages
    query = select(t).where(t.c.direction == "egress")
    if recipient is not None:
        query = query.where(t.c.recipient == recipient)
    async with world.db.read() as conn:
        return list((await conn.execute(query.order_by(t.c.id))).all())


async def writes(world: WhatsAppWorld, number: str, sender: str, text: str = "Hi") -> None:
    """The contact `sender` writes to the business number: its 24-hour window opens."""
    await world.events.record_inbound(
        [
            InboundWhatsApp(
                channel="simulator",
                recipient=number,
                sender=sender,
                text=text,
                at=world.clock.now(),
                operator_event_id=f"in-{world.clock.now().timestamp()}-{sender}",
                profile_name="Ben",
            )
        ]
    )


async def deliver(world: WhatsAppWorld) -> None:
    """Hand the queued messages to the simulator and let it report their statuses."""
    await world.deliver()
    world.clock.advance(STATUS_DELAY)
    await world.events_due()


async def test_a_whatsapp_blast_sends_a_personalised_template_and_delivers(
    worlds: tuple[CampaignWorld, WhatsAppWorld],
) -> None:
    camp, wa = worlds
    org, number = await wa.new_org()
    campaign_id = await camp.launched(
        org,
        {"name": "Orders", "kind": "blast", "steps": [whatsapp_step(number, template=TEMPLATE)]},
    )
    ana = await camp.subscribe(org, campaign_id, ANA, contact=ContactInput(first_name="Ana"))
    ben = await camp.subscribe(org, campaign_id, BEN, contact=ContactInput(first_name="Ben"))
    assert await camp.fire() == 2
    rows = await chats(wa)
    assert [(r.recipient, r.campaign_run_id) for r in rows] == [
        (ANA, ana.run_id),
        (BEN, ben.run_id),
    ]
    assert '"parameters": ["Ana", "42"]' in rows[0].content
    assert "Hi Ben, order 42 is ready" in rows[1].content
    assert await camp.sent() == []  # no SMS
    assert await wa.balance(org) == 1_000_000 - 2 * PRICE
    await deliver(wa)
    assert [r.state for r in await chats(wa)] == ["delivered", "delivered"]
    run = await camp.run_row(ana.run_id)
    assert (run.status, run.steps_sent, run.with_failures) == ("done", 1, False)
    assert run.last_message_id == rows[0].id


async def test_a_drip_sends_free_form_in_the_window_and_the_template_outside_it(
    worlds: tuple[CampaignWorld, WhatsAppWorld],
) -> None:
    camp, wa = worlds
    org, number = await wa.new_org()
    await update_profile(camp.db, org, default_sender_id="Tambuli")  # for the SMS step
    await writes(wa, number, BEN)  # Ben wrote: his window is open, Ana's is not
    drip = {
        "name": "Welcome",
        "kind": "drip",
        "steps": [
            whatsapp_step(
                number,
                message={"default": "Welcome {{contact.firstName}}!", "fil": "Mabuhay!"},
                template=TEMPLATE,
            ),
            whatsapp_step(
                number, delay={"unit": "day", "value": 2}, message="Day 2: free-form only"
            ),
            {"delay": {"unit": "day", "value": 1}, "message": "Day 3 by SMS"},
        ],
    }
    campaign_id = await camp.launched(org, drip)
    ana = await camp.subscribe(org, campaign_id, ANA, contact=ContactInput(first_name="Ana"))
    ben = await camp.subscribe(org, campaign_id, BEN)
    await camp.fire()
    [to_ana] = await chats(wa, ANA)
    [to_ben] = await chats(wa, BEN)
    assert to_ana.content and "Hi Ana, order 42 is ready" in to_ana.content
    assert (to_ben.content, to_ben.body) == ("", "Welcome Ben!")
    await deliver(wa)
    # Two days later Ben's window is closed too; Ben writes again, Ana does not.
    wa.clock.advance(timedelta(days=2) - timedelta(minutes=1))
    await writes(wa, number, BEN)
    await camp.advance_to(wa.clock.now() + timedelta(minutes=2))
    assert len(await chats(wa, ANA)) == 1  # missed: free-form only, window closed
    assert [r.body for r in await chats(wa, BEN)] == ["Welcome Ben!", "Day 2: free-form only"]
    missed = await camp.run_row(ana.run_id)
    assert missed.with_failures and missed.status == "active"
    assert missed.last_error.startswith("whatsapp.templaterequired:")
    assert missed.step_index == 2  # the run goes on to its SMS step
    await camp.advance_to(wa.clock.now() + timedelta(days=1, minutes=1))
    assert [s.body for s in await camp.sent(ANA)] == ["Day 3 by SMS"]
    assert (await camp.run_row(ana.run_id)).status == "done"
    done = await camp.run_row(ben.run_id)
    assert (done.status, done.steps_sent, done.with_failures) == ("done", 3, False)


async def test_a_whatsapp_step_carries_its_file_and_the_file_is_in_use(
    worlds: tuple[CampaignWorld, WhatsAppWorld],
) -> None:
    camp, wa = worlds
    org, number = await wa.new_org()
    poster = await wa.upload(org, "poster.jpg", JPEG)
    spare = await wa.upload(org, "spare.jpg", JPEG)
    step = whatsapp_step(number, template=TEMPLATE, imageFile=poster)
    draft = await campaigns.create_campaign(
        camp.db, camp.clock, org, {"name": "Poster", "kind": "blast", "steps": [step]}
    )
    with pytest.raises(FileInUse):  # a draft will send it
        await files.delete_file(camp.db, org, poster)
    await files.delete_file(camp.db, org, spare)  # named by no step
    await campaigns.launch_campaign(camp.db, camp.clock, org, draft.id)
    await camp.subscribe(org, draft.id, ANA, contact=ContactInput(first_name="Ana"))
    await camp.fire()
    async with camp.db.read() as conn:
        carried = (await conn.execute(select(whatsapp_message_files.c.filename))).scalars()
        assert list(carried) == [poster]
    await deliver(wa)
    await campaigns.stop_campaign(camp.db, camp.clock, org, draft.id)
    await files.delete_file(camp.db, org, poster)  # stopped, and its message went out


@pytest.mark.parametrize(
    ("step", "error", "field"),
    [
        ({"template": TEMPLATE, "from": "15559999999"}, UnknownBusinessNumber, "steps[0].from"),
        ({"template": {**TEMPLATE, "name": "nope"}}, UnknownTemplate, "steps[0].template.default"),
        (
            {"template": {"default": TEMPLATE, "fil": {**TEMPLATE, "language": "fil"}}},
            UnknownTemplate,
            "steps[0].template.fil",
        ),
        (
            {"template": {**TEMPLATE, "parameters": ["{{contact.firstName}}"]}},
            InvalidTemplateContent,
            "steps[0].template.default",
        ),
        ({"template": {"fil": TEMPLATE}}, InvalidTemplateContent, "steps[0].template"),
        ({"template": {"name": "x"}}, InvalidTemplateContent, "steps[0].template.default"),
        ({"from": None, "template": TEMPLATE}, InvalidField, "steps[0].from"),
        ({}, InvalidField, "steps[0].message"),
        ({"template": TEMPLATE, "imageFile": "missing.jpg"}, InvalidWhatsAppMedia, "steps[0]"),
        (
            {"template": TEMPLATE, "imageFile": "a.jpg", "audioFile": "b.ogg"},
            InvalidWhatsAppMedia,
            "steps[0]",
        ),
        ({"channel": "fax", "message": "Hi"}, InvalidField, "steps[0].channel"),
        ({"channel": "sms", "message": "Hi", "template": TEMPLATE}, InvalidField, None),
    ],
)
async def test_whatsapp_steps_are_checked_when_the_campaign_is_saved(
    worlds: tuple[CampaignWorld, WhatsAppWorld],
    step: dict[str, Any],
    error: type[TambuliError],
    field: str | None,
) -> None:
    camp, wa = worlds
    org, number = await wa.new_org()
    given = {k: v for k, v in whatsapp_step(number, **step).items() if v is not None}
    with pytest.raises(error) as refused:
        await campaigns.create_campaign(
            camp.db, camp.clock, org, {"name": "Bad", "kind": "blast", "steps": [given]}
        )
    assert refused.value.message.startswith("steps[0]")
    if field is not None:
        assert (refused.value.context or {}).get("field") == field
    assert await campaigns.list_campaigns(camp.db, org) == []  # nothing saved
    good = await campaigns.create_campaign(
        camp.db,
        camp.clock,
        org,
        {"name": "Good", "kind": "blast", "steps": [whatsapp_step(number, template=TEMPLATE)]},
    )
    with pytest.raises(error):  # a changed step is checked as a new one
        await campaigns.update_campaign(camp.db, camp.clock, org, good.id, {"steps": [given]})
    assert (await campaigns.get_campaign(camp.db, org, good.id)).definition["steps"][0][
        "template"
    ] == TEMPLATE


async def test_another_organizations_number_is_unknown(
    worlds: tuple[CampaignWorld, WhatsAppWorld],
) -> None:
    camp, wa = worlds
    org, _number = await wa.new_org()
    _other, theirs = await wa.new_org()
    blast = {"name": "B", "kind": "blast", "steps": [whatsapp_step(theirs, template=TEMPLATE)]}
    with pytest.raises(UnknownBusinessNumber):
        await campaigns.create_campaign(camp.db, camp.clock, org, blast)


async def test_a_whatsapp_poll_question_is_answered_on_whatsapp_and_retried_there(
    worlds: tuple[CampaignWorld, WhatsAppWorld],
) -> None:
    camp, wa = worlds
    org, number = await wa.new_org()
    question = whatsapp_step(
        number,
        template=TEMPLATE,
        choices=["YES", "NO"],
        retry="Please answer YES or NO, {{contact.firstName}}",
    )
    campaign_id = await camp.launched(org, {"name": "Q", "kind": "poll", "steps": [question]})
    run = await camp.subscribe(org, campaign_id, ANA, contact=ContactInput(first_name="Ana"))
    await camp.fire()
    [asked] = await chats(wa, ANA)
    assert "Hi Ana, order 42 is ready" in asked.content  # her window is closed: the template
    await deliver(wa)

    async def answers(text: str) -> None:
        await wa.events.record_inbound(
            [
                InboundWhatsApp(
                    channel="simulator",
                    recipient=number,
                    sender=ANA,
                    text=text,
                    at=wa.clock.now(),
                    operator_event_id=f"answer-{text}",
                )
            ]
        )
        await handle_replies(camp.outbox, limit=10, skip_locked=not camp.db.is_sqlite)

    wa.clock.advance(timedelta(minutes=5))
    await answers("maybe")
    retried = (await chats(wa, ANA))[-1]
    # She just wrote, so the retry text goes free-form, by WhatsApp, on her run.
    assert (retried.body, retried.content) == ("Please answer YES or NO, Ana", "")
    assert retried.campaign_run_id == run.run_id
    wa.clock.advance(timedelta(minutes=5))
    await answers("yes")
    row = await camp.run_row(run.run_id)
    assert (row.status, row.invalid_replies) == ("done", 1)
    assert await camp.sent() == []  # nothing by SMS


async def test_a_template_removed_after_saving_stops_the_launch_and_ends_runs_in_error(
    worlds: tuple[CampaignWorld, WhatsAppWorld],
) -> None:
    camp, wa = worlds
    org, number = await wa.new_org()
    step = whatsapp_step(number, template=TEMPLATE)
    draft = await campaigns.create_campaign(
        camp.db, camp.clock, org, {"name": "Gone", "kind": "blast", "steps": [step]}
    )
    await numbers.remove_template(wa.db, number, "order_ready", "en")
    with pytest.raises(UnknownTemplate, match=f"Campaign {draft.id} cannot send"):
        await campaigns.launch_campaign(camp.db, camp.clock, org, draft.id)
    await numbers.add_template(wa.db, wa.clock, number, "order_ready", "en", "Hi {{1}} {{2}}")
    launched = await camp.launched(
        org, {"name": "Later", "kind": "blast", "steps": [step]}
    )  # no SMS sender needed for WhatsApp steps alone
    run = await camp.subscribe(org, launched, ANA)
    await numbers.remove_template(wa.db, number, "order_ready", "en")
    await camp.fire()
    ended = await camp.run_row(run.run_id)
    assert (ended.status, ended.with_failures) == ("error", True)
    assert ended.last_error.startswith("whatsapp.unknowntemplate:")
    assert await chats(wa) == []
    assert await wa.balance(org) == 1_000_000


async def test_a_short_balance_retries_the_whatsapp_step_later(
    worlds: tuple[CampaignWorld, WhatsAppWorld],
) -> None:
    camp, wa = worlds
    org, number = await wa.new_org(balance_micro=PRICE)
    blast = {"name": "B", "kind": "blast", "steps": [whatsapp_step(number, template=TEMPLATE)]}
    campaign_id = await camp.launched(org, blast)
    await camp.subscribe(org, campaign_id, ANA)
    late = await camp.subscribe(org, campaign_id, BEN)
    await camp.fire()
    assert [r.recipient for r in await chats(wa)] == [ANA]  # the one that fit went
    waiting = await camp.run_row(late.run_id)
    assert (waiting.status, waiting.attempts) == ("active", 1)
    assert waiting.last_error.startswith("balance.insufficient")
    await billing.credit_balance(wa.db, wa.clock, org, PRICE, "t")
    await camp.advance_to(wa.clock.now() + timedelta(minutes=2))
    assert [r.recipient for r in await chats(wa)] == [ANA, BEN]


async def test_an_opt_out_cancels_the_runs_queued_whatsapp_and_refunds_it(
    worlds: tuple[CampaignWorld, WhatsAppWorld],
) -> None:
    camp, wa = worlds
    org, number = await wa.new_org()
    await update_profile(camp.db, org, default_sender_id="Tambuli")
    drip = {
        "name": "Mixed",
        "kind": "drip",
        "steps": [
            {"message": "Reply STOP to stop"},
            whatsapp_step(number, template=TEMPLATE),
            whatsapp_step(number, delay={"unit": "day", "value": 1}, template=TEMPLATE),
        ],
    }
    campaign_id = await camp.launched(org, drip)
    run = await camp.subscribe(org, campaign_id, ANA)
    await camp.fire()
    [queued] = await chats(wa)
    assert queued.campaign_run_id == run.run_id and queued.status == "queued"
    before = await wa.balance(org)
    await camp.reply(ANA, "STOP")
    [cancelled] = await chats(wa)
    assert (cancelled.status, cancelled.error) == ("failed", "the contact's number opted out")
    assert await wa.balance(org) == before + PRICE + SMS_PRICE  # the queued SMS went too
    assert (await camp.run_row(run.run_id)).status == "opted_out"


async def test_an_opt_out_keyword_sent_by_whatsapp_ends_the_runs_as_an_sms_one_does(
    worlds: tuple[CampaignWorld, WhatsAppWorld],
) -> None:
    camp, wa = worlds
    org, number = await wa.new_org()
    drip = {
        "name": "Reminders",
        "kind": "drip",
        "steps": [
            whatsapp_step(number, template=TEMPLATE),
            whatsapp_step(number, delay={"unit": "day", "value": 1}, template=TEMPLATE),
        ],
    }
    campaign_id = await camp.launched(org, drip)
    run = await camp.subscribe(org, campaign_id, ANA)
    await camp.fire()
    await deliver(wa)
    before = await wa.balance(org)
    await writes(wa, number, ANA, "stop")
    await handle_replies(camp.outbox, limit=10, skip_locked=not camp.db.is_sqlite)
    assert (await camp.run_row(run.run_id)).status == "opted_out"
    wa.clock.advance(timedelta(days=2))
    await camp.fire()
    assert len(await chats(wa, ANA)) == 1  # the second step never comes
    assert await wa.balance(org) == before


async def test_a_whatsapp_message_that_fails_marks_its_run_with_failures(
    worlds: tuple[CampaignWorld, WhatsAppWorld],
) -> None:
    camp, wa = worlds
    org, number = await wa.new_org()
    blast = {"name": "B", "kind": "blast", "steps": [whatsapp_step(number, template=TEMPLATE)]}
    campaign_id = await camp.launched(org, blast)
    await camp.subscribe(org, campaign_id, "639171230003")  # the simulator fails it
    await camp.subscribe(org, campaign_id, ANA)
    await camp.fire()
    await deliver(wa)
    _campaign, runs = await reports.list_runs(camp.db, org, campaign_id, 0, 10, None)
    assert [(r.status.value, r.with_failures) for r in runs] == [("done", True), ("done", False)]
