"""One campaign: its steps in words, its report with charts, subscribing contacts, a contact's
schedule and the answers CSV."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect

from tambuli.campaigns import reports
from tambuli.campaigns.delay_words import describe_delay
from tambuli.campaigns.models import ACTIVE_STATUSES, Campaign, CampaignKind, Step
from tambuli.campaigns.schedule import PlannedStep
from tambuli.campaigns.subscription_intake import subscribe_contact
from tambuli.campaigns.subscriptions import NewSubscriber, SubscribeRequest, subscribe_many
from tambuli.contacts import phones
from tambuli.contacts import service as contacts
from tambuli.contacts.conditions import parse_conditions
from tambuli.contacts.models import Contact, ContactFilter
from tambuli.contacts.selection import find_contact_ids_matching
from tambuli.errors import ContactOptedOut, InvalidField, TambuliError
from tambuli.organizations.models import Role
from tambuli.web.access import Member, require_member
from tambuli.web.charts import Series, render_bar_chart
from tambuli.web.context import console_of
from tambuli.web.outbound import sending_runtime_of
from tambuli.web.rendering import render_page

# One form subscribes at most this many contacts of a group or filter (the oldest not yet in
# the campaign); sending it again subscribes the next ones.
MAX_SUBSCRIBED_AT_ONCE = 1000
# A contact search shows this many matches.
MAX_FOUND = 10
# The run statuses the report counts, in the order shown (paused runs count as active).
REPORTED = ("active", "done", "error", "unsubscribed", "opted_out")


@dataclass(frozen=True)
class StepView:
    """A step as the campaign page lists it."""

    number: int
    when: str
    texts: list[tuple[str, str]]
    choices: list[str]
    timeout: str


@dataclass(frozen=True)
class PlannedView:
    """A step of a contact's schedule."""

    number: int
    when: str
    local: str


def _steps(campaign: Campaign) -> list[StepView]:
    reminder = campaign.kind is CampaignKind.REMINDER
    shown = []
    for index, step in enumerate(campaign.rules.steps):
        question = step.question
        shown.append(
            StepView(
                number=index + 1,
                when=describe_delay(step.delay, before=step.before, reminder=reminder),
                texts=_step_texts(step),
                choices=[c.value for c in question.choices] if question else [],
                timeout=describe_delay(question.timeout) if question else "",
            )
        )
    return shown


def _step_texts(step: Step) -> list[tuple[str, str]]:
    """What a step sends, by language; a WhatsApp step's number, templates and File too."""
    texts = list(step.message.items())
    wa = step.whatsapp
    if wa is None:
        return texts
    shown = [("WhatsApp from", f"+{wa.sender}"), *texts]
    shown += [(f"template ({k})", f"{t.name} in {t.language}") for k, t in wa.templates.items()]
    shown += [(kind.value, filename) for kind, filename in wa.media.items()]
    return shown


def _status_counts(by_status: dict[str, int]) -> list[tuple[str, int]]:
    counts = {name: by_status.get(name, 0) for name in REPORTED}
    counts["active"] = sum(by_status.get(s, 0) for s in ACTIVE_STATUSES)
    return list(counts.items())


def _charts(report: reports.CampaignReport) -> dict[str, Any]:
    statuses = _status_counts(report.runs_by_status)
    steps = [f"Step {i + 1}" for i in range(len(report.steps_sent))]
    questions = []
    for q in report.questions:
        labels = [a for a, _ in q.answers] + (["other"] if q.other else [])
        values = [n for _, n in q.answers] + ([q.other] if q.other else [])
        title = f"Answers to question {q.step_index + 1}"
        chart = render_bar_chart(title, labels, [Series("answers", "bar-delivered", values)])
        questions.append((q.step_index + 1, chart, list(zip(labels, values, strict=True))))
    return {
        "statuses": statuses,
        "status_chart": render_bar_chart(
            "Runs by status",
            [s for s, _ in statuses],
            [Series("runs", "bar-sent", [n for _, n in statuses])],
        ),
        "steps_sent": list(zip(steps, report.steps_sent, strict=True)),
        "steps_chart": render_bar_chart(
            "Runs that sent each step", steps, [Series("runs", "bar-sent", report.steps_sent)]
        ),
        "questions": questions,
    }


def _planned(steps: list[PlannedStep], zone: ZoneInfo) -> list[PlannedView]:
    shown = []
    for step in steps:
        in_utc, local = reports.describe_moment(step.due_at, zone)
        shown.append(
            PlannedView(step.index + 1, in_utc or "after the previous answer", local or "")
        )
    return shown


async def _schedule_of(
    request: Request[Any, Any, Any], org_id: int, campaign: Campaign, contact_id: int
) -> tuple[str, list[PlannedView]]:
    """What a contact's run still has to fire, and a sentence about the run."""
    db = console_of(request).db
    status = (await reports.read_subscription_statuses(db, org_id, campaign.id, [contact_id]))[
        contact_id
    ]
    run_id = status.active_id or status.last_id
    if run_id is None:
        console = console_of(request)
        preview = await reports.preview_schedule(db, console.clock, org_id, campaign.id, contact_id)
        return (
            f"Contact {contact_id} is not subscribed to this campaign. Subscribed now "
            f"(time zone {preview.zone.key}), its steps would fire:",
            _planned(preview.steps, preview.zone),
        )
    found = await reports.read_schedule(db, org_id, campaign.id, run_id)
    planned = _planned(found.steps, found.zone)
    said = f"Run {found.run.id} of contact {contact_id} is {found.run.status.value}"
    said += f" (time zone {found.run.time_zone})"
    if found.paused:
        said += "; the campaign is not running, so these times wait for a relaunch"
    return said + ".", planned


async def _campaign_page(
    request: Request[Any, Any, Any],
    member: Member,
    campaign_id: int,
    *,
    status_code: int = 200,
    error: str = "",
    notice: str = "",
) -> Response[Any]:
    console = console_of(request)
    org_id = member.org_id
    report = await reports.read_campaign_report(console.db, org_id, campaign_id)
    campaign = report.campaign
    query = request.query_params
    found: list[Contact] = []
    search = (query.get("find") or "").strip()
    if search:
        page = await contacts.list_contacts(
            console.db, org_id, ContactFilter(search=search), 1, MAX_FOUND
        )
        found = page.contacts
    schedule_note, schedule = "", list[PlannedView]()
    raw_contact = (query.get("contact") or "").strip()
    if raw_contact.isdigit():
        schedule_note, schedule = await _schedule_of(request, org_id, campaign, int(raw_contact))
    if not notice:
        notice = _notice_of(query)
    return await render_page(
        request,
        "campaign.html",
        status_code=status_code,
        member=member,
        campaign=campaign,
        steps=_steps(campaign),
        groups=await contacts.list_groups(console.db, org_id),
        found=found,
        search=search,
        schedule_contact=raw_contact,
        schedule_note=schedule_note,
        schedule=schedule,
        error=error,
        notice=notice,
        can_edit=member.may(Role.EDITOR),
        max_at_once=MAX_SUBSCRIBED_AT_ONCE,
        **_charts(report),
    )


def _notice_of(query: Any) -> str:
    """What the redirect after a save or a subscription asks the page to say."""
    if query.get("saved") == "1":
        return "Saved."
    contact = query.get("subscribed_contact") or ""
    if contact.isdigit():
        return f"Contact {int(contact)} is subscribed."
    count = query.get("subscribed") or ""
    if not count.isdigit():
        return ""
    n = int(count)
    said = f"{n:,} contact{'s' if n != 1 else ''} subscribed."
    if n == 0:
        said = "No contact subscribed: none matches, or every match is subscribed already."
    skipped = query.get("opted_out") or ""
    if skipped.isdigit() and int(skipped) > 0:
        said += f" {int(skipped):,} left out: their numbers opted out of campaign messages."
    if n >= MAX_SUBSCRIBED_AT_ONCE:
        said += (
            f" One form subscribes at most {MAX_SUBSCRIBED_AT_ONCE:,}: send it again for "
            "the next ones."
        )
    return said


@get("/orgs/{org_id:int}/campaigns/{campaign_id:int}", include_in_schema=False)
async def campaign_page(
    request: Request[Any, Any, Any], org_id: FromPath[int], campaign_id: FromPath[int]
) -> Response[Any]:
    """A campaign: its steps, report, subscribe forms and a contact's schedule."""
    member = await require_member(request, org_id, Role.VIEWER)
    return await _campaign_page(request, member, campaign_id)


async def _subscribe_one(
    request: Request[Any, Any, Any], org_id: int, campaign_id: int, given: str
) -> str:
    """Subscribe a contact named by ID or full phone number; the query that says so."""
    given = given.strip()
    contact_id = int(given) if given.isdigit() and len(given) < 10 else None
    phone = None if contact_id is not None else phones.normalise_full_number(given)
    done = await subscribe_contact(
        sending_runtime_of(request).subscriptions,
        SubscribeRequest(
            org_id=org_id, campaign_id=campaign_id, contact_id=contact_id, phone=phone
        ),
    )
    return f"?subscribed_contact={done.contact_id}"


async def _subscribe_matching(
    request: Request[Any, Any, Any], org_id: int, campaign_id: int, conditions_text: str
) -> str:
    """Subscribe up to MAX_SUBSCRIBED_AT_ONCE matching contacts not already in a run; the
    query that says how many."""
    console = console_of(request)
    conditions = parse_conditions(conditions_text)
    chosen: list[int] = []
    after = 0
    while len(chosen) < MAX_SUBSCRIBED_AT_ONCE:
        batch = await find_contact_ids_matching(
            console.db, org_id, conditions, after, MAX_SUBSCRIBED_AT_ONCE
        )
        if not batch:
            break
        statuses = await reports.read_subscription_statuses(console.db, org_id, campaign_id, batch)
        chosen += [c for c in batch if statuses[c].in_progress == 0]
        after = batch[-1]
        if len(batch) < MAX_SUBSCRIBED_AT_ONCE:
            break
    chosen = chosen[:MAX_SUBSCRIBED_AT_ONCE]
    if not chosen:
        return "?subscribed=0"
    opted_out = 0
    while chosen:
        try:
            await subscribe_many(
                console.db,
                console.clock,
                org_id,
                campaign_id,
                [NewSubscriber(contact_id=c) for c in chosen],
                reuse_newest=False,
                server_sender=console.settings.server_sender_id,
            )
            break
        except ContactOptedOut as refused:
            # The batch is all or none: leave the opted-out numbers out and try again.
            named = set((refused.context or {}).get("contactIds") or [])
            if not named & set(chosen):
                raise
            opted_out += len(named & set(chosen))
            chosen = [c for c in chosen if c not in named]
    return f"?subscribed={len(chosen)}&opted_out={opted_out}"


@post(
    "/orgs/{org_id:int}/campaigns/{campaign_id:int}/subscribe",
    include_in_schema=False,
    status_code=200,
)
async def subscribe(
    request: Request[Any, Any, Any], org_id: FromPath[int], campaign_id: FromPath[int]
) -> Response[Any]:
    """Subscribe a contact, a group's contacts or a filter's contacts."""
    member = await require_member(request, org_id, Role.EDITOR)
    posted = await request.form()
    mode = str(posted.get("mode") or "")
    try:
        if mode == "contact":
            said = await _subscribe_one(
                request, org_id, campaign_id, str(posted.get("contact") or "")
            )
        elif mode == "group":
            raw = str(posted.get("group") or "")
            if not raw.isdigit():
                raise InvalidField("Choose a group", {"field": "group"})
            said = await _subscribe_matching(
                request,
                org_id,
                campaign_id,
                f'{{"field": "groups", "op": "contains", "value": {int(raw)}}}',
            )
        elif mode == "filter":
            said = await _subscribe_matching(
                request, org_id, campaign_id, str(posted.get("conditions") or "")
            )
        else:
            raise InvalidField("Choose whom to subscribe", {"field": "mode"})
    except TambuliError as refused:
        return await _campaign_page(
            request, member, campaign_id, status_code=400, error=refused.message
        )
    # The first steps fire now rather than at the workers' next poll.
    sending_runtime_of(request).wake_campaigns()
    # Redirected, so that reloading the page cannot subscribe anyone twice.
    return Redirect(f"/orgs/{org_id}/campaigns/{campaign_id}{said}", status_code=303)


@get("/orgs/{org_id:int}/campaigns/{campaign_id:int}/answers.csv", include_in_schema=False)
async def export_answers(
    request: Request[Any, Any, Any], org_id: FromPath[int], campaign_id: FromPath[int]
) -> Response[str]:
    """Every poll answer as CSV, as the API's answers.csv."""
    await require_member(request, org_id, Role.VIEWER)
    text = await reports.export_answers_csv(console_of(request).db, org_id, campaign_id)
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="campaign-{campaign_id}-answers.csv"',
            "Cache-Control": "no-store",
        },
    )
