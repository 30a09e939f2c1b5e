"""Runs of a campaign: list, one run, its schedule, and poll answers (Tambuli's extension)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get
from litestar.params import FromPath, FromQuery, QueryParameter

from tambuli.api.auth import authorize_org, parse_path_id
from tambuli.api.campaigns import CAMPAIGN_PATH, campaign_id_of
from tambuli.api.pagination import clamp_list_number
from tambuli.api.runtime import runtime_of
from tambuli.campaigns import reports
from tambuli.campaigns.models import Campaign, RunStatus
from tambuli.campaigns.reply_store import PollAnswer
from tambuli.campaigns.store import Run
from tambuli.clock import format_utc_timestamp
from tambuli.errors import InvalidField, RunNotFound

RUNS_PATH = CAMPAIGN_PATH + "/runs"
RUN_PATH = CAMPAIGN_PATH + "/runs/{run_id:str}"
MAX_LIMIT = 1000
MAX_DB_INT = 2**63 - 1
STATUS_PATTERN = "^(" + "|".join(s.value for s in RunStatus) + ")$"


class RunBody(msgspec.Struct, rename="camel"):
    """A run: one subscription of a contact, where it stands and how far it got."""

    id: int
    campaign_id: int
    contact_id: int
    status: str
    done: bool
    time_zone: str
    args: dict[str, Any]
    started_at: str
    step: int
    steps_total: int
    steps_sent: int
    next_step_at: str | None
    awaiting_reply: bool
    with_failures: bool
    last_error: str
    created_at: str
    ended_at: str | None


class RunListBody(msgspec.Struct, rename="camel"):
    """Runs in ID order; pass `nextAfter` as `after` for the next page (null: no more)."""

    runs: list[RunBody]
    next_after: int | None


class ScheduledStepBody(msgspec.Struct, rename="camel"):
    """A step still to fire; null times wait on a poll's replies."""

    step: int
    fire_at: str | None
    fire_at_local: str | None


class ScheduleBody(msgspec.Struct, rename="camel"):
    """Every remaining step of a run, in UTC and in the run's time zone."""

    run_id: int
    status: str
    time_zone: str
    paused: bool
    steps: list[ScheduledStepBody]


class AnswerBody(msgspec.Struct, rename="camel"):
    """A valid answer to a poll question (question numbers start at 1)."""

    id: int
    run_id: int
    contact_id: int
    question: int
    answer: str
    reply: str
    answered_at: str


class AnswerListBody(msgspec.Struct, rename="camel"):
    """Answers in the order they came; pass `nextAfter` as `after` for more."""

    answers: list[AnswerBody]
    next_after: int | None


def render_run(run: Run, campaign: Campaign) -> RunBody:
    """The API shape of a run."""
    return RunBody(
        id=run.id,
        campaign_id=run.campaign_id,
        contact_id=run.contact_id,
        status=run.status.value,
        done=not run.is_active,
        time_zone=run.time_zone,
        args=run.args,
        started_at=format_utc_timestamp(run.started_at),
        step=min(run.step_index + 1, len(campaign.rules.steps)),
        steps_total=len(campaign.rules.steps),
        steps_sent=run.steps_sent,
        next_step_at=(
            format_utc_timestamp(run.step_due_at)
            if run.is_active and run.step_due_at is not None and not run.awaiting_reply
            else None
        ),
        awaiting_reply=run.awaiting_reply,
        with_failures=run.with_failures,
        last_error=run.last_error,
        created_at=format_utc_timestamp(run.created_at),
        ended_at=None if run.ended_at is None else format_utc_timestamp(run.ended_at),
    )


def _run_id(text: str) -> int:
    value = parse_path_id(text)
    if value is None:
        raise RunNotFound()
    return value


def _check_paging(after: int, limit: int) -> int:
    """The limit to use, clamped into 1..MAX_LIMIT; a cursor that is no run ID is refused."""
    if not 0 <= after <= MAX_DB_INT:
        raise InvalidField("after must be a run ID or 0", {"field": "after"})
    return clamp_list_number(limit, MAX_LIMIT)


@get(RUNS_PATH, operation_id="listCampaignRuns", tags=["Campaigns"])
async def list_runs(
    request: Request[Any, Any, Any],
    org_id: FromPath[str],
    campaign_id: FromPath[str],
    after: FromQuery[int] = 0,
    limit: FromQuery[int] = 100,
    status: Annotated[str | None, QueryParameter(pattern=STATUS_PATTERN)] = None,
) -> RunListBody:
    """Runs of the campaign with their status and progress."""
    principal = await authorize_org(request, org_id)
    limit = _check_paging(after, limit)
    campaign, runs = await reports.list_runs(
        runtime_of(request).db, principal.org_id, campaign_id_of(campaign_id), after, limit, status
    )
    return RunListBody(
        runs=[render_run(r, campaign) for r in runs],
        next_after=runs[-1].id if len(runs) == limit else None,
    )


@get(RUN_PATH, operation_id="getCampaignRun", tags=["Campaigns"])
async def get_run(
    request: Request[Any, Any, Any],
    org_id: FromPath[str],
    campaign_id: FromPath[str],
    run_id: FromPath[str],
) -> RunBody:
    """One run of the campaign."""
    principal = await authorize_org(request, org_id)
    campaign, run = await reports.get_run(
        runtime_of(request).db, principal.org_id, campaign_id_of(campaign_id), _run_id(run_id)
    )
    return render_run(run, campaign)


@get(RUN_PATH + "/schedule", operation_id="getCampaignRunSchedule", tags=["Campaigns"])
async def get_schedule(
    request: Request[Any, Any, Any],
    org_id: FromPath[str],
    campaign_id: FromPath[str],
    run_id: FromPath[str],
) -> ScheduleBody:
    """When each remaining step of the run fires, in UTC and in the run's time zone."""
    principal = await authorize_org(request, org_id)
    found = await reports.read_schedule(
        runtime_of(request).db, principal.org_id, campaign_id_of(campaign_id), _run_id(run_id)
    )
    steps = []
    for planned in found.steps:
        in_utc, local = reports.describe_moment(planned.due_at, found.zone)
        steps.append(ScheduledStepBody(step=planned.index + 1, fire_at=in_utc, fire_at_local=local))
    return ScheduleBody(
        run_id=found.run.id,
        status=found.run.status.value,
        time_zone=found.run.time_zone,
        paused=found.paused,
        steps=steps,
    )


def _render_answers(found: list[tuple[int, PollAnswer]], limit: int) -> AnswerListBody:
    return AnswerListBody(
        answers=[
            AnswerBody(
                id=answer_id,
                run_id=a.run_id,
                contact_id=a.contact_id,
                question=a.step_index + 1,
                answer=a.answer,
                reply=a.reply,
                answered_at=format_utc_timestamp(a.answered_at),
            )
            for answer_id, a in found
        ],
        next_after=found[-1][0] if len(found) == limit else None,
    )


@get(CAMPAIGN_PATH + "/answers", operation_id="listCampaignAnswers", tags=["Campaigns"])
async def list_answers(
    request: Request[Any, Any, Any],
    org_id: FromPath[str],
    campaign_id: FromPath[str],
    after: FromQuery[int] = 0,
    limit: FromQuery[int] = 100,
) -> AnswerListBody:
    """Every poll answer of the campaign."""
    principal = await authorize_org(request, org_id)
    limit = _check_paging(after, limit)
    found = await reports.list_answers(
        runtime_of(request).db, principal.org_id, campaign_id_of(campaign_id), None, after, limit
    )
    return _render_answers(found, limit)


@get(RUN_PATH + "/answers", operation_id="listCampaignRunAnswers", tags=["Campaigns"])
async def list_run_answers(
    request: Request[Any, Any, Any],
    org_id: FromPath[str],
    campaign_id: FromPath[str],
    run_id: FromPath[str],
) -> AnswerListBody:
    """The poll answers of one run."""
    principal = await authorize_org(request, org_id)
    found = await reports.list_answers(
        runtime_of(request).db,
        principal.org_id,
        campaign_id_of(campaign_id),
        _run_id(run_id),
        0,
        MAX_LIMIT,
    )
    return _render_answers(found, MAX_LIMIT)


@get(
    CAMPAIGN_PATH + "/answers.csv",
    operation_id="exportCampaignAnswers",
    tags=["Campaigns"],
    media_type="text/csv",
)
async def export_answers(
    request: Request[Any, Any, Any], org_id: FromPath[str], campaign_id: FromPath[str]
) -> Response[str]:
    """Every poll answer as CSV (runId, contactId, question, questionText, answer, reply, at)."""
    principal = await authorize_org(request, org_id)
    wanted = campaign_id_of(campaign_id)
    text = await reports.export_answers_csv(runtime_of(request).db, principal.org_id, wanted)
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="campaign-{wanted}-answers.csv"'},
    )
