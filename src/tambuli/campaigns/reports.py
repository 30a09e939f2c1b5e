"""Reading what campaigns did and will do: runs, schedules, poll answers, subscription status."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from tambuli.campaigns import reply_store, report_store, store
from tambuli.campaigns.delays import describe_fire_time
from tambuli.campaigns.models import Campaign, CampaignState, RunStatus
from tambuli.campaigns.schedule import PlannedStep, plan_remaining_steps
from tambuli.campaigns.subscriptions import plan_run
from tambuli.clock import Clock, format_utc_timestamp
from tambuli.contacts import service as contacts
from tambuli.db.engine import Database
from tambuli.errors import CampaignNotFound, RunNotFound
from tambuli.messaging.contact_batches import find_runs_with_failed_messages
from tambuli.whatsapp.contact_batches import find_runs_with_failed_whatsapp

MAX_ANSWERS_PER_READ = 1000
# A report shows this many answers of a question (the most given); the rest count as "other".
MAX_ANSWERS_SHOWN = 12


@dataclass(frozen=True)
class RunSchedule:
    """Every step a run still has to fire, with its planned moment (None: waits on replies)."""

    run: store.Run
    zone: ZoneInfo
    # Empty when the run ended; the moments are not promised while the campaign is stopped.
    steps: list[PlannedStep]
    paused: bool


@dataclass(frozen=True)
class SubscriptionStatus:
    """A contact's runs of one campaign, counted the way engageSPARK's substatus does."""

    total: int
    in_progress: int
    done: int
    unsubscribed: int
    error: int
    with_failures: int
    active_id: int | None
    last_id: int | None


@dataclass(frozen=True)
class QuestionAnswers:
    """How a poll question was answered: (answer, runs) with the most given first."""

    step_index: int
    answers: list[tuple[str, int]]
    # Runs whose answer is not among `answers` (open questions with many different replies).
    other: int


@dataclass(frozen=True)
class CampaignReport:
    """Runs by status, how many runs sent each step, and the poll's answers by question."""

    campaign: Campaign
    runs_by_status: dict[str, int]
    # Per step (by index): runs that sent at least that step.
    steps_sent: list[int]
    questions: list[QuestionAnswers]


@dataclass(frozen=True)
class CampaignPage:
    """One page of an organization's campaigns, newest first, with their run counts."""

    total: int
    campaigns: list[tuple[Campaign, dict[str, int]]]


async def list_campaign_page(db: Database, org_id: int, offset: int, limit: int) -> CampaignPage:
    """`limit` campaigns from `offset`, newest first, each with its runs by status."""
    async with db.read() as conn:
        total, found = await report_store.select_campaign_page(conn, org_id, offset, limit)
        counted = [(c, await store.count_campaign_runs(conn, c.id)) for c in found]
    return CampaignPage(total, counted)


async def read_campaign_report(db: Database, org_id: int, campaign_id: int) -> CampaignReport:
    """The campaign's report, counted in the database (never by loading its runs)."""
    campaign = await _campaign(db, org_id, campaign_id)
    async with db.read() as conn:
        by_status = await store.count_campaign_runs(conn, campaign_id)
        by_sent = await report_store.count_runs_by_steps_sent(conn, campaign_id)
        answered = await report_store.count_poll_answers(conn, campaign_id)
    steps = len(campaign.rules.steps)
    reached = [sum(n for sent, n in by_sent.items() if sent > index) for index in range(steps)]
    questions = []
    for index, step in enumerate(campaign.rules.steps):
        if step.question is None:
            continue
        given = {answer: n for (at, answer), n in answered.items() if at == index}
        order = [c.value for c in step.question.choices]
        ranked = sorted(given.items(), key=lambda item: (-item[1], item[0]))
        if order:
            ranked = [(value, given.get(value, 0)) for value in order]
            ranked += [(a, n) for a, n in given.items() if a not in order]
        shown = ranked[:MAX_ANSWERS_SHOWN]
        other = sum(n for _, n in ranked[MAX_ANSWERS_SHOWN:])
        questions.append(QuestionAnswers(index, shown, other))
    return CampaignReport(campaign, by_status, reached, questions)


async def _campaign(db: Database, org_id: int, campaign_id: int) -> Campaign:
    async with db.read() as conn:
        campaign = await store.select_campaign(conn, org_id, campaign_id)
    if campaign is None:
        raise CampaignNotFound()
    return campaign


async def list_runs(
    db: Database, org_id: int, campaign_id: int, after_id: int, limit: int, status: str | None
) -> tuple[Campaign, list[store.Run]]:
    """Runs of a campaign after a run ID, in ID order (optionally of one status); a run with a
    failed message reads as having failures."""
    campaign = await _campaign(db, org_id, campaign_id)
    async with db.read() as conn:
        runs = await store.select_runs_page(conn, campaign_id, after_id, limit, status)
    failed = await _find_runs_with_failures(db, [r.id for r in runs])
    return campaign, [replace(r, with_failures=True) if r.id in failed else r for r in runs]


async def get_run(
    db: Database, org_id: int, campaign_id: int, run_id: int
) -> tuple[Campaign, store.Run]:
    """One run of the campaign."""
    campaign = await _campaign(db, org_id, campaign_id)
    async with db.read() as conn:
        run = await store.select_run(conn, campaign_id, run_id)
    if run is None:
        raise RunNotFound()
    return campaign, run


async def read_schedule(db: Database, org_id: int, campaign_id: int, run_id: int) -> RunSchedule:
    """When each remaining step of a run will fire."""
    campaign, run = await get_run(db, org_id, campaign_id, run_id)
    zone = ZoneInfo(run.time_zone)
    if not run.is_active:
        return RunSchedule(run, zone, [], paused=False)
    start = run.step_index
    next_due = run.step_due_at
    if run.awaiting_reply:
        # The current question was sent; what remains starts after its answer.
        start, next_due = run.step_index + 1, None
    steps = plan_remaining_steps(
        campaign.kind,
        campaign.rules,
        start,
        next_due_at=next_due,
        started_at=run.started_at,
        anchor_at=run.anchor_at,
        zone=zone,
        override=run.override,
    )
    paused = run.status is RunStatus.PAUSED or campaign.state is not CampaignState.LAUNCHED
    return RunSchedule(run, zone, steps, paused=paused)


@dataclass(frozen=True)
class SchedulePreview:
    """When each step would fire for a contact subscribed now (None: waits on replies)."""

    zone: ZoneInfo
    steps: list[PlannedStep]


async def preview_schedule(
    db: Database, clock: Clock, org_id: int, campaign_id: int, contact_id: int
) -> SchedulePreview:
    """The schedule a subscription of the contact would have if it started now (nothing is
    written); the same refusals as subscribing, e.g. a reminder without its date."""
    campaign = await _campaign(db, org_id, campaign_id)
    contact = await contacts.get_contact(db, org_id, contact_id)
    async with db.read() as conn:
        names = await contacts.read_custom_field_names_within(conn, org_id)
    now = clock.now()
    new = plan_run(campaign, contact, now, now, "", {}, names)
    zone = ZoneInfo(new.time_zone)
    if new.step_due_at is None:
        return SchedulePreview(zone, [])
    steps = plan_remaining_steps(
        campaign.kind,
        campaign.rules,
        new.step_index,
        next_due_at=new.step_due_at,
        started_at=now,
        anchor_at=new.anchor_at,
        zone=zone,
        override=None,
    )
    return SchedulePreview(zone, steps)


async def list_answers(
    db: Database, org_id: int, campaign_id: int, run_id: int | None, after_id: int, limit: int
) -> list[tuple[int, reply_store.PollAnswer]]:
    """Poll answers of the campaign (or one run of it), in the order they came."""
    if run_id is None:
        await _campaign(db, org_id, campaign_id)
    else:
        await get_run(db, org_id, campaign_id, run_id)
    async with db.read() as conn:
        return await reply_store.select_poll_answers(conn, campaign_id, run_id, after_id, limit)


async def export_answers_csv(db: Database, org_id: int, campaign_id: int) -> str:
    """Every answer of a poll as CSV: one row per answer."""
    campaign = await _campaign(db, org_id, campaign_id)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["runId", "contactId", "question", "questionText", "answer", "reply", "at"])
    after = 0
    while True:
        async with db.read() as conn:
            found = await reply_store.select_poll_answers(
                conn, campaign_id, None, after, MAX_ANSWERS_PER_READ
            )
        if not found:
            return out.getvalue()
        for answer_id, answer in found:
            step = campaign.rules.steps[answer.step_index]
            writer.writerow(
                [
                    answer.run_id,
                    answer.contact_id,
                    answer.step_index + 1,
                    _defuse(step.message["default"]),
                    _defuse(answer.answer),
                    _defuse(answer.reply),
                    format_utc_timestamp(answer.answered_at),
                ]
            )
            after = answer_id


def _defuse(text: str) -> str:
    """Keep spreadsheet programs from running a reply as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


async def read_subscription_statuses(
    db: Database, org_id: int, campaign_id: int, contact_ids: Sequence[int]
) -> dict[int, SubscriptionStatus]:
    """The substatus of each contact for one campaign."""
    async with db.read() as conn:
        runs = await store.select_runs_of_contacts(conn, org_id, campaign_id, contact_ids)
    failed = await _find_runs_with_failures(db, [r.id for r in runs])
    by_contact: dict[int, list[store.Run]] = {c: [] for c in contact_ids}
    for run in runs:
        by_contact.setdefault(run.contact_id, []).append(run)
    return {c: summarise_runs(found, failed) for c, found in by_contact.items()}


def summarise_runs(runs: Sequence[store.Run], failed: set[int]) -> SubscriptionStatus:
    """Count a contact's runs; an unsubscribe is an abort, so it also counts as an error.

    A run has failures when a step was refused or one of its messages failed (`failed`)."""
    ordered = sorted(runs, key=lambda r: r.id)
    active = [r for r in ordered if r.is_active]
    errors = (RunStatus.UNSUBSCRIBED, RunStatus.OPTED_OUT, RunStatus.ERROR)
    return SubscriptionStatus(
        total=len(ordered),
        in_progress=len(active),
        done=sum(1 for r in ordered if r.status is RunStatus.DONE),
        unsubscribed=sum(1 for r in ordered if r.status is RunStatus.UNSUBSCRIBED),
        error=sum(1 for r in ordered if r.status in errors),
        with_failures=sum(1 for r in ordered if r.with_failures or r.id in failed),
        active_id=active[-1].id if active else None,
        last_id=ordered[-1].id if ordered else None,
    )


def describe_moment(moment: datetime | None, zone: ZoneInfo) -> tuple[str | None, str | None]:
    """(UTC RFC 3339 with Z, local RFC 3339 with offset), or Nones."""
    if moment is None:
        return None, None
    return describe_fire_time(moment, zone)


def filter_by_subscription(campaign_id: int, mode: str) -> tuple[object, object]:
    """(contact IDs to include, to exclude) for a contact list's `subscriptionfilter`."""
    return store.select_subscribed_contact_ids(campaign_id, mode)


async def _find_runs_with_failures(db: Database, run_ids: Sequence[int]) -> set[int]:
    """Runs with a failed SMS or WhatsApp message."""
    failed = await find_runs_with_failed_messages(db, run_ids)
    return failed | await find_runs_with_failed_whatsapp(db, run_ids)
