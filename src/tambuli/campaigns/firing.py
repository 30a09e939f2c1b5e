"""The campaign scheduler: claim runs whose step is due, send it, plan the next one.

A batch of runs is claimed, sent and advanced in one transaction: the messages and the runs'
new state commit together, so a killed worker neither loses a step nor sends one twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.campaigns import reply_store, store
from tambuli.campaigns.delays import choose_delay_zone, compute_fire_time
from tambuli.campaigns.models import (
    Campaign,
    CampaignKind,
    CampaignState,
    RunStatus,
    TimeoutAction,
    choose_text,
)
from tambuli.campaigns.quiet_hours import find_window_close, fit_into_window
from tambuli.campaigns.run_changes import (
    AwaitReply,
    Ended,
    FireAt,
    Move,
    NextStep,
    Paused,
    RunChange,
)
from tambuli.campaigns.schedule import plan_next_step
from tambuli.campaigns.whatsapp_steps import WhatsAppStep, choose_template, template_content
from tambuli.contacts import service as contacts
from tambuli.contacts.models import Contact
from tambuli.errors import InsufficientFunds, Overloaded, TambuliError, TemplateRequired
from tambuli.messaging.contact_batches import ContactSms, enqueue_contact_messages_within
from tambuli.messaging.sending import Outbox
from tambuli.messaging.views import StoredMessage
from tambuli.retries import RetryPolicy, schedule_of_minutes
from tambuli.whatsapp.contact_batches import ContactWhatsApp, enqueue_contact_whatsapp_within
from tambuli.whatsapp.views import StoredWhatsApp

# A step refused for a passing reason (the balance ran out) is tried again after these many
# minutes, inside the sending window; after the last one it is skipped and counted a failure.
STEP_RETRIES = RetryPolicy(jitter=0, schedule=schedule_of_minutes(1, 5, 15, 60, 180, 360))
# A step that fires later than this counts its successor from when it actually fired (after
# a stop and relaunch, say); a punctual one counts from its planned moment, so no drift.
LATE_GRACE = timedelta(seconds=60)
TRANSIENT = (InsufficientFunds, Overloaded)
# A free-form WhatsApp step to a contact whose 24-hour window is closed: that contact misses the
# step (counted a failure, the reason kept), the run goes on; a later step may be a template,
# or the contact may have written by then (docs/decisions.md).
MISSED = (TemplateRequired,)
# A run whose schedule cannot be computed (a date beyond the calendar) fails alone.
PLANNING_ERRORS = (TambuliError, ValueError, OverflowError)
# A reminder step this late (after a stop or an outage) is skipped: "3 days before" is no
# use after the date.
REMINDER_GRACE = timedelta(hours=1)


@dataclass(frozen=True)
class Outgoing:
    """A message a run sends, and what the run does once it is queued (or refused)."""

    run: store.Run
    campaign: Campaign
    message: ContactSms | ContactWhatsApp


async def fire_due_steps(
    outbox: Outbox, *, limit: int, lease_seconds: float, skip_locked: bool
) -> int:
    """Fire the steps (and poll timeouts) that are due; returns how many runs were handled."""
    clock = outbox.clock
    # An idle scheduler polls often; on SQLite every write transaction takes the one writer's
    # turn from delivery, so look before taking it.
    async with outbox.db.read_single() as conn:
        if not await store.any_due_run(conn, clock.now()):
            return 0
    async with outbox.db.write() as conn:
        now = clock.now()
        runs = await store.claim_due_runs(
            conn, now, now + timedelta(seconds=lease_seconds), limit, skip_locked
        )
        if not runs:
            return 0
        found = await store.select_campaigns_by_ids(conn, sorted({r.campaign_id for r in runs}))
        people = await contacts.get_contacts_within(conn, [r.contact_id for r in runs])
        refused = await _find_opted_out(conn, people)
        changes: list[RunChange] = []
        outgoing: list[Outgoing] = []
        for run in runs:
            campaign = found[run.campaign_id]
            contact = people.get(run.contact_id)
            try:
                change = _decide(run, campaign, contact, refused, now)
                if change is None:
                    assert contact is not None
                    message = step_message(run, campaign, contact, now)
                    outgoing.append(Outgoing(run, campaign, message))
                    continue
            except PLANNING_ERRORS as exc:
                change = _unplannable(run, exc, now)
            changes.append(change)
        changes += await send_run_messages(conn, outbox, outgoing, now)
        await store.update_runs(conn, changes)
    return len(runs)


async def send_run_messages(
    conn: AsyncConnection, outbox: Outbox, outgoing: list[Outgoing], now: datetime
) -> list[RunChange]:
    """Queue the steps' messages and return each run's change for what became of its own."""
    outcomes: list[StoredMessage | StoredWhatsApp | TambuliError | None] = [None] * len(outgoing)
    texts = [(i, o.message) for i, o in enumerate(outgoing) if isinstance(o.message, ContactSms)]
    chats = [
        (i, o.message) for i, o in enumerate(outgoing) if isinstance(o.message, ContactWhatsApp)
    ]
    if texts:
        sent = await enqueue_contact_messages_within(conn, outbox, [m for _, m in texts])
        for (index, _), text in zip(texts, sent, strict=True):
            outcomes[index] = text
    if chats:
        queued = await enqueue_contact_whatsapp_within(conn, outbox, [m for _, m in chats])
        for (index, _), chat in zip(chats, queued, strict=True):
            outcomes[index] = chat
    changes = []
    for item, outcome in zip(outgoing, outcomes, strict=True):
        assert outcome is not None
        try:
            if isinstance(outcome, StoredMessage | StoredWhatsApp):
                change = advance_after_send(item.run, item.campaign, outcome.id, now)
            else:
                change = _after_refusal(item.run, item.campaign, outcome, now)
        except PLANNING_ERRORS as exc:
            change = _unplannable(item.run, exc, now)
        changes.append(change)
    return changes


def _unplannable(run: store.Run, error: Exception, now: datetime) -> RunChange:
    """End a run whose next moment cannot be computed, so it never blocks the others."""
    reason = error.message if isinstance(error, TambuliError) else str(error)
    error_text = f"the next step cannot be planned: {reason}"
    return RunChange(run.id, Ended(RunStatus.ERROR, now), last_error=error_text)


def advance_after_send(
    run: store.Run, campaign: Campaign, message_id: int, now: datetime
) -> RunChange:
    """The run after its current step's message was queued."""
    step = campaign.rules.steps[run.step_index]
    move: Move
    if step.question is not None:
        # The question's timeout counts from when it was actually sent.
        timeout = step.question.timeout
        move = AwaitReply(now, compute_fire_time(timeout, now, choose_delay_zone(timeout)))
    else:
        move = plan_after_step(run, campaign, _fired_at(run, now), now)
    return RunChange(
        run.id,
        move,
        steps_sent=run.steps_sent + 1,
        last_message_id=message_id,
        attempts=0,
        last_error="",
    )


def plan_after_step(
    run: store.Run, campaign: Campaign, fired_at: datetime, now: datetime
) -> NextStep | Ended:
    """Move the run on to its next step counted from `fired_at`, or end it as done."""
    nxt = plan_next_step(
        campaign.kind,
        campaign.rules,
        run.step_index,
        fired_at=fired_at,
        started_at=run.started_at,
        anchor_at=run.anchor_at,
        zone=run.zone,
        override=run.override,
    )
    if nxt is None:
        return Ended(RunStatus.DONE, now, step_index=len(campaign.rules.steps))
    assert nxt.due_at is not None
    return NextStep(nxt.index, nxt.due_at)


def _fired_at(run: store.Run, now: datetime) -> datetime:
    planned = run.step_due_at
    if planned is None or now - planned > LATE_GRACE:
        return now
    return planned


def _decide(
    run: store.Run,
    campaign: Campaign,
    contact: Contact | None,
    refused: set[tuple[int, str]],
    now: datetime,
) -> RunChange | None:
    """What happens to a due run without sending; None when its step is to be sent."""
    if campaign.state is not CampaignState.LAUNCHED:
        # Stopped between the claim and now: wait for the relaunch.
        return RunChange(run.id, Paused())
    if contact is None:
        return RunChange(run.id, Ended(RunStatus.ERROR, now), last_error="the contact was deleted")
    if (contact.org_id, contact.phone) in refused:
        opted_out = "the contact's number opted out"
        return RunChange(run.id, Ended(RunStatus.OPTED_OUT, now), last_error=opted_out)
    if run.step_index >= len(campaign.rules.steps):
        return RunChange(run.id, Ended(RunStatus.DONE, now))
    if run.awaiting_reply:
        return time_out_question(run, campaign, now)
    if (
        campaign.kind is CampaignKind.REMINDER
        and run.step_due_at is not None
        and now - run.step_due_at > REMINDER_GRACE
    ):
        return RunChange(
            run.id,
            plan_after_step(run, campaign, now, now),
            last_error="a reminder step came due too late and was skipped",
        )
    window = campaign.rules.sending_window
    if window is not None:
        # Planned inside the window but due outside it now (a relaunch, a changed window, a
        # backlog): wait for the window to open again.
        opens = fit_into_window(now, window, ZoneInfo(run.time_zone))
        if opens > now:
            return RunChange(run.id, FireAt(opens))
    return None


def time_out_question(run: store.Run, campaign: Campaign, now: datetime) -> RunChange:
    """A poll question got no valid answer in time: go on, or end the run."""
    question = campaign.rules.steps[run.step_index].question
    assert question is not None
    if question.on_timeout is TimeoutAction.END:
        return RunChange(run.id, Ended(RunStatus.DONE, now), last_error="no answer in time")
    return RunChange(run.id, plan_after_step(run, campaign, now, now))


def step_message(
    run: store.Run,
    campaign: Campaign,
    contact: Contact,
    now: datetime,
    texts: Mapping[str, str] | None = None,
) -> ContactSms | ContactWhatsApp:
    """The run's current step to its contact, by the step's channel; `texts` replace the
    step's own (a question's retry text)."""
    step = campaign.rules.steps[run.step_index]
    chosen = step.message if texts is None else texts
    if step.whatsapp is not None:
        return _campaign_whatsapp(run, campaign, contact, chosen, step.whatsapp, now)
    return campaign_sms(run, campaign, contact, choose_text(chosen, contact.language), now)


def _window_close(run: store.Run, campaign: Campaign, now: datetime) -> datetime | None:
    window = campaign.rules.sending_window
    if window is None:
        return None
    return find_window_close(now, window, ZoneInfo(run.time_zone))


def campaign_sms(
    run: store.Run, campaign: Campaign, contact: Contact, text: str, now: datetime
) -> ContactSms:
    """A message of a run to its contact, its delivery ending when the sending window closes."""
    return ContactSms(
        contact=contact,
        text=text,
        sender=campaign.rules.sender,
        campaign_run_id=run.id,
        deadline_cap=_window_close(run, campaign, now),
    )


def _campaign_whatsapp(
    run: store.Run,
    campaign: Campaign,
    contact: Contact,
    texts: Mapping[str, str],
    step: WhatsAppStep,
    now: datetime,
) -> ContactWhatsApp:
    """A WhatsApp step's message in the contact's language: free-form, template or either."""
    text = choose_text(texts, contact.language) if texts else ""
    template = choose_template(step.templates, contact.language) if step.templates else None
    return ContactWhatsApp(
        contact=contact,
        sender=step.sender,
        text=text,
        content=None if template is None else template_content(template),
        media=step.media,
        template_when_window_closed=bool(text),
        campaign_run_id=run.id,
        deadline_cap=_window_close(run, campaign, now),
    )


def _after_refusal(
    run: store.Run, campaign: Campaign, error: TambuliError, now: datetime
) -> RunChange:
    reason = f"{error.error_code}: {error.message}"
    retry_at = STEP_RETRIES.next_attempt(run.attempts + 1, now)
    if isinstance(error, TRANSIENT) and retry_at is not None:
        zone = ZoneInfo(run.time_zone)
        again = FireAt(fit_into_window(retry_at, campaign.rules.sending_window, zone))
        return RunChange(run.id, again, attempts=run.attempts + 1, last_error=reason)
    if isinstance(error, (*TRANSIENT, *MISSED)):
        # Refused too often for a passing reason, or this contact cannot get this step: the
        # step is skipped and the run carries on.
        move: Move = plan_after_step(run, campaign, now, now)
    else:
        # Refused for good (no sender, no price, too long once personalised): the later steps
        # would fail alike, so the run ends in error rather than reading as done.
        move = Ended(RunStatus.ERROR, now)
    return RunChange(run.id, move, attempts=0, last_error=reason, with_failures=True)


async def _find_opted_out(
    conn: AsyncConnection, people: dict[int, Contact]
) -> set[tuple[int, str]]:
    refused: set[tuple[int, str]] = set()
    by_org: dict[int, list[str]] = {}
    for contact in people.values():
        by_org.setdefault(contact.org_id, []).append(contact.phone)
    for org_id, phones in sorted(by_org.items()):
        refused |= {(org_id, p) for p in await reply_store.select_opted_out(conn, org_id, phones)}
    return refused
