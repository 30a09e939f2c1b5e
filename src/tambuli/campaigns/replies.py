"""What campaigns do with inbound SMS: opt-out and opt-in keywords, and poll answers.

Inbound messages are taken, handled and marked handled in one transaction, so a killed
worker leaves them due again and an answer is never counted twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.campaigns import opt_outs, store
from tambuli.campaigns.firing import (
    Outgoing,
    campaign_sms,
    plan_after_step,
    send_run_messages,
    time_out_question,
)
from tambuli.campaigns.models import Campaign, RunStatus, choose_text
from tambuli.campaigns.polls import match_reply, normalise_reply
from tambuli.contacts import service as contacts
from tambuli.messaging import receipts
from tambuli.messaging.sending import Outbox
from tambuli.messaging.views import UnhandledInbound
from tambuli.organizations.profile import OrgProfile


async def handle_replies(outbox: Outbox, *, limit: int, skip_locked: bool) -> int:
    """Handle inbound messages not yet seen by the campaigns; returns how many."""
    async with outbox.db.write() as conn:
        now = outbox.clock.now()
        inbound = await receipts.take_unhandled_inbound_within(conn, now, limit, skip_locked)
        for item in inbound:
            profile = await outbox.profiles.get(item.org_id)
            await _handle_one(conn, outbox, profile, item, now)
    return len(inbound)


async def _handle_one(
    conn: AsyncConnection,
    outbox: Outbox,
    profile: OrgProfile,
    item: UnhandledInbound,
    now: datetime,
) -> None:
    word = normalise_reply(item.body)
    phone = item.sender
    contact_ids = await contacts.find_contact_ids_with_phone_within(conn, item.org_id, phone)
    stop_words = opt_outs.parse_keywords(
        profile.opt_out_keywords, opt_outs.DEFAULT_OPT_OUT_KEYWORDS
    )
    start_words = opt_outs.parse_keywords(profile.opt_in_keywords, opt_outs.DEFAULT_OPT_IN_KEYWORDS)
    if word and word in stop_words:
        await opt_outs.record_opt_out(conn, item.org_id, phone, item.body.strip(), now)
        runs = await store.select_active_runs_of_phone(conn, item.org_id, contact_ids)
        ended = store.ending(RunStatus.OPTED_OUT, now, "the contact's number opted out")
        await store.update_runs(conn, [{"run_id": r.id, **ended} for r in runs])
        return
    if word and word in start_words:
        await opt_outs.remove_opt_out(conn, item.org_id, phone)
        return
    await _record_answer(conn, outbox, item, contact_ids, now)


async def _record_answer(
    conn: AsyncConnection,
    outbox: Outbox,
    item: UnhandledInbound,
    contact_ids: list[int],
    now: datetime,
) -> None:
    """Match the reply to the question the number was asked last, if any is waiting."""
    runs = [
        r
        for r in await store.select_active_runs_of_phone(conn, item.org_id, contact_ids)
        if r.status is RunStatus.ACTIVE and r.awaiting_reply
    ]
    if not runs:
        return
    # Several polls may wait on one number: the question sent last is the one answered.
    run = max(runs, key=lambda r: (r.step_due_at or r.created_at, r.id))
    found = await store.select_campaigns_by_ids(conn, [run.campaign_id])
    campaign = found[run.campaign_id]
    question = campaign.rules.steps[run.step_index].question
    assert question is not None
    answer = match_reply(item.body, question.choices)
    change: dict[str, Any]
    if answer is not None:
        await store.insert_poll_answer(conn, run, answer, item.body, item.id, item.received_at)
        # The next question counts from the answer's arrival.
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
    people = await contacts.get_contacts_within(conn, [run.contact_id])
    contact = people.get(run.contact_id)
    if contact is None:
        return
    step = campaign.rules.steps[run.step_index]
    assert step.question is not None
    texts = step.question.retry or step.message
    sms = campaign_sms(run, campaign, contact, choose_text(texts, contact.language), now)
    [change] = await send_run_messages(conn, outbox, [Outgoing(run, campaign, sms)], now)
    # A retry keeps the question and its timeout; only the count of invalid replies moves.
    kept = {
        "run_id": run.id,
        "invalid_replies": run.invalid_replies + 1,
        "last_message_id": change.get("last_message_id", run.last_message_id),
    }
    if "with_failures" in change:
        kept["with_failures"] = True
        kept["last_error"] = change["last_error"]
    await store.update_runs(conn, [kept])
