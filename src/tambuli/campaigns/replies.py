"""What campaigns do with inbound SMS: opt-out and opt-in keywords, and poll answers.

Each inbound message is taken, handled and marked handled in a transaction of its own: a
killed worker leaves it due again, an answer is never counted twice, and no transaction
locks runs after it has locked an organization's balance (the scheduler's order), so the two
never deadlock on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.campaigns import opt_outs, reply_store, store
from tambuli.campaigns.firing import (
    Outgoing,
    campaign_sms,
    plan_after_step,
    send_run_messages,
    time_out_question,
)
from tambuli.campaigns.models import Campaign, RunStatus, choose_text
from tambuli.campaigns.polls import match_reply, normalise_reply
from tambuli.campaigns.quiet_hours import fit_into_window
from tambuli.contacts import service as contacts
from tambuli.messaging import receipts
from tambuli.messaging.contact_batches import cancel_run_messages_within
from tambuli.messaging.sending import Outbox
from tambuli.messaging.views import WHATSAPP_CHANNEL, UnhandledInbound
from tambuli.organizations.profile import OrgProfile
from tambuli.whatsapp import inbound as whatsapp_inbound

OPTED_OUT = "the contact's number opted out"


# How inbound messages of each kind are found and taken: SMS, then WhatsApp. The same
# keywords and poll questions apply to both.
_INBOUND_SOURCES = (
    (receipts.any_unhandled_inbound, receipts.take_unhandled_inbound_within),
    (whatsapp_inbound.any_unhandled_inbound, whatsapp_inbound.take_unhandled_inbound_within),
)


async def handle_replies(outbox: Outbox, *, limit: int, skip_locked: bool) -> int:
    """Handle up to `limit` inbound messages (SMS and WhatsApp) not yet seen by the campaigns;
    how many."""
    handled = 0
    for any_unhandled, take_unhandled in _INBOUND_SOURCES:
        if not await any_unhandled(outbox.db, outbox.clock.now()):
            continue
        while handled < limit:
            async with outbox.db.write() as conn:
                now = outbox.clock.now()
                taken = await take_unhandled(conn, now, 1, skip_locked)
                if not taken:
                    break
                [item] = taken
                profile = await outbox.profiles.get_within(conn, item.org_id)
                await _handle_one(conn, outbox, profile, item, now)
            handled += 1
    return handled


async def find_runs_awaiting_reply_within(
    conn: AsyncConnection, run_ids: Sequence[int]
) -> set[int]:
    """Which of these runs wait for an answer: their conversations stay open (inbound.py)."""
    return await store.select_runs_awaiting_reply(conn, run_ids)


async def _handle_one(
    conn: AsyncConnection,
    outbox: Outbox,
    profile: OrgProfile,
    item: UnhandledInbound,
    now: datetime,
) -> None:
    word = normalise_reply(item.body)
    contact_ids = await contacts.find_contact_ids_with_phone_within(conn, item.org_id, item.sender)
    runs = await store.select_active_runs_of_phone(conn, item.org_id, contact_ids)
    waiting = _question_waiting(runs, item)
    found = await store.select_campaigns_by_ids(conn, sorted({r.campaign_id for r in runs}))
    # A poll choice wins over a keyword: "Baja" may answer "Alta or baja?" and also be an
    # opt-out word in Spanish.
    answer = None
    if waiting is not None:
        question = found[waiting.campaign_id].rules.steps[waiting.step_index].question
        assert question is not None
        answer = match_reply(item.body, question.choices) if question.choices else None
    stop_words = opt_outs.parse_keywords(
        profile.opt_out_keywords, opt_outs.DEFAULT_OPT_OUT_KEYWORDS
    )
    start_words = opt_outs.parse_keywords(profile.opt_in_keywords, opt_outs.DEFAULT_OPT_IN_KEYWORDS)
    if answer is None and word and word in stop_words:
        await reply_store.record_opt_out(conn, item.org_id, item.sender, item.body.strip(), now)
        ended = store.ending(RunStatus.OPTED_OUT, now, OPTED_OUT)
        await store.update_runs(conn, [{"run_id": r.id, **ended} for r in runs])
        await cancel_run_messages_within(conn, outbox.clock, [r.id for r in runs], OPTED_OUT)
        return
    if answer is None and word and word in start_words:
        await reply_store.remove_opt_out(conn, item.org_id, item.sender)
        return
    if waiting is not None:
        await _record_answer(conn, outbox, item, waiting, found[waiting.campaign_id], now)


def _question_waiting(runs: list[store.Run], item: UnhandledInbound) -> store.Run | None:
    """The run whose question this message answers: the one sent last, before the message."""
    candidates = [
        r
        for r in runs
        if r.awaiting_reply and r.step_due_at is not None and r.step_due_at < item.received_at
    ]
    if not candidates:
        return None
    return max(candidates, key=lambda r: (r.step_due_at or r.created_at, r.id))


async def _record_answer(
    conn: AsyncConnection,
    outbox: Outbox,
    item: UnhandledInbound,
    run: store.Run,
    campaign: Campaign,
    now: datetime,
) -> None:
    """Store a valid answer and move on, or answer an invalid one with the retry text."""
    question = campaign.rules.steps[run.step_index].question
    assert question is not None
    answer = match_reply(item.body, question.choices)
    change: dict[str, Any]
    if answer is not None:
        # The answer names its SMS; an answer by WhatsApp names none (another table's IDs).
        message_id = item.id if item.channel != WHATSAPP_CHANNEL else None
        await reply_store.insert_poll_answer(
            conn, run, answer, item.body, message_id, item.received_at
        )
        # The next question counts from the answer's arrival. A paused run keeps its status:
        # the next question goes out once the campaign is launched again.
        change = plan_after_step(run, campaign, max(item.received_at, now), now)
    elif run.invalid_replies < question.max_retries:
        await _send_retry(conn, outbox, run, campaign, now)
        return
    else:
        # Out of retries: as if the question had timed out.
        change = time_out_question(run, campaign, now)
    await store.update_runs(conn, [{"run_id": run.id, **change}])


async def _send_retry(
    conn: AsyncConnection, outbox: Outbox, run: store.Run, campaign: Campaign, now: datetime
) -> None:
    kept: dict[str, Any] = {"run_id": run.id, "invalid_replies": run.invalid_replies + 1}
    window = campaign.rules.sending_window
    outside = window is not None and fit_into_window(now, window, ZoneInfo(run.time_zone)) > now
    people = await contacts.get_contacts_within(conn, [run.contact_id])
    contact = people.get(run.contact_id)
    # No retry text outside the sending window or while the campaign is stopped; the
    # invalid reply still counts and the question stays open.
    if contact is not None and not outside and run.status is RunStatus.ACTIVE:
        step = campaign.rules.steps[run.step_index]
        assert step.question is not None
        texts = step.question.retry or step.message
        sms = campaign_sms(run, campaign, contact, choose_text(texts, contact.language), now)
        [change] = await send_run_messages(conn, outbox, [Outgoing(run, campaign, sms)], now)
        # A retry keeps the question and its timeout; only the count of invalid replies moves.
        kept["last_message_id"] = change.get("last_message_id", run.last_message_id)
        if "with_failures" in change:
            kept["with_failures"] = True
            kept["last_error"] = change["last_error"]
    await store.update_runs(conn, [kept])
