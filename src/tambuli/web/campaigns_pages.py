"""The campaigns list, the editor (new and existing campaigns), launch and stop."""

from __future__ import annotations

import json
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect

from tambuli.campaigns import reports
from tambuli.campaigns import service as campaigns
from tambuli.campaigns.models import Campaign, CampaignKind, CampaignState
from tambuli.errors import InvalidField, TambuliError
from tambuli.organizations.models import Role
from tambuli.web.access import Member, require_member
from tambuli.web.campaign_forms import (
    CampaignForm,
    StepForm,
    definition_of,
    form_from_definition,
    form_from_post,
)
from tambuli.web.context import console_of
from tambuli.web.outbound import sending_runtime_of
from tambuli.web.rendering import render_page
from tambuli.whatsapp import numbers

# The list shows this many campaigns a page, newest first, each with its run counts.
CAMPAIGNS_PER_PAGE = 25
# Page numbers beyond this are read as this (an offset the databases can take).
MAX_PAGE = 1_000_000
UNITS = ["", "second", "minute", "hour", "day", "week", "month", "at"]
LIVE_KEYS = ("name", "openForSubscriptions", "sendingWindow", "sender")


def campaigns_path(org_id: int) -> str:
    """Where the organization's campaigns are listed."""
    return f"/orgs/{org_id}/campaigns"


@get("/orgs/{org_id:int}/campaigns", include_in_schema=False)
async def campaigns_page(request: Request[Any, Any, Any], org_id: FromPath[int]) -> Response[Any]:
    """The organization's campaigns, newest first, a page at a time."""
    member = await require_member(request, org_id, Role.VIEWER)
    db = console_of(request).db
    raw_page = request.query_params.get("page", "1")
    page = max(1, min(int(raw_page), MAX_PAGE)) if raw_page[:9].isdigit() else 1
    found = await reports.list_campaign_page(
        db, org_id, (page - 1) * CAMPAIGNS_PER_PAGE, CAMPAIGNS_PER_PAGE
    )
    return await render_page(
        request,
        "campaigns.html",
        member=member,
        rows=found.campaigns,
        page=page,
        more=found.total > page * CAMPAIGNS_PER_PAGE,
        total=found.total,
        can_edit=member.may(Role.EDITOR),
    )


async def _editor(
    request: Request[Any, Any, Any],
    member: Member,
    form: CampaignForm,
    campaign: Campaign | None,
    *,
    status_code: int = 200,
    error: str = "",
    raw_json: str = "",
) -> Response[Any]:
    return await render_page(
        request,
        "campaign_edit.html",
        status_code=status_code,
        member=member,
        form=form,
        campaign=campaign,
        locked=campaign is not None and campaign.state is not CampaignState.DRAFT,
        kinds=[k.value for k in CampaignKind],
        units=UNITS,
        error=error,
        raw_json=raw_json,
        whatsapp_numbers=[
            n.number for n in await numbers.list_numbers(console_of(request).db, member.org_id)
        ],
    )


def _definition_json(form: CampaignForm) -> str:
    plain = {k: v for k, v in definition_of(form).items() if v is not None}
    return json.dumps(plain, indent=2, ensure_ascii=False)


@get("/orgs/{org_id:int}/campaigns/new", include_in_schema=False)
async def new_campaign_page(
    request: Request[Any, Any, Any], org_id: FromPath[int]
) -> Response[Any]:
    """An empty editor."""
    member = await require_member(request, org_id, Role.EDITOR)
    form = CampaignForm()
    return await _editor(request, member, form, None, raw_json=_definition_json(form))


@get("/orgs/{org_id:int}/campaigns/{campaign_id:int}/edit", include_in_schema=False)
async def edit_campaign_page(
    request: Request[Any, Any, Any], org_id: FromPath[int], campaign_id: FromPath[int]
) -> Response[Any]:
    """The editor filled with a campaign's definition."""
    member = await require_member(request, org_id, Role.EDITOR)
    campaign = await campaigns.get_campaign(console_of(request).db, org_id, campaign_id)
    form = form_from_definition(
        campaign.name, campaign.kind.value, campaign.open_for_subscriptions, campaign.definition
    )
    return await _editor(request, member, form, campaign, raw_json=_definition_json(form))


def _changed_steps(form: CampaignForm, action: str) -> bool:
    """Apply an add- or remove-step button to the form; whether it was one."""
    if action == "add_step":
        form.steps.append(StepForm())
        return True
    if action.startswith("remove_step:"):
        index = action.partition(":")[2]
        if index.isdigit() and int(index) < len(form.steps) and len(form.steps) > 1:
            del form.steps[int(index)]
        return True
    return False


def _read_json(text: str) -> dict[str, Any]:
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise InvalidField(f"The definition is not valid JSON ({exc})", {"field": "body"}) from None
    if not isinstance(raw, dict):
        raise InvalidField("The body must be an object", {"field": "body"})
    return raw


async def _save(
    request: Request[Any, Any, Any], org_id: int, campaign: Campaign | None
) -> Response[Any]:
    """Create or change a campaign from the form (or its JSON), or add/remove a step row."""
    console = console_of(request)
    member = await require_member(request, org_id, Role.EDITOR)
    posted = await request.form()
    action = str(posted.get("action") or "save")
    raw_json = str(posted.get("definition") or "")
    form = form_from_post(posted)
    if campaign is not None and campaign.state is not CampaignState.DRAFT:
        # Its steps are fixed (and their fields not sent): show the stored ones.
        form.steps = form_from_definition("", "", True, campaign.definition).steps
    if _changed_steps(form, action):
        return await _editor(request, member, form, campaign, raw_json=_definition_json(form))
    try:
        if action == "save_json":
            definition = _read_json(raw_json)
        else:
            definition = definition_of(form)
            raw_json = _definition_json(form)
        if campaign is None:
            given = {k: v for k, v in definition.items() if v is not None}
            saved = await campaigns.create_campaign(console.db, console.clock, org_id, given)
        else:
            if campaign.state is not CampaignState.DRAFT and action != "save_json":
                definition = {k: definition.get(k) for k in LIVE_KEYS}
            saved = await campaigns.update_campaign(
                console.db,
                console.clock,
                org_id,
                campaign.id,
                definition,
                server_sender=console.settings.server_sender_id,
            )
    except TambuliError as refused:
        if action == "save_json":
            try:
                plain = _read_json(raw_json)
                form = form_from_definition(
                    str(plain.get("name", "")),
                    str(plain.get("kind", "")),
                    plain.get("openForSubscriptions", True) is True,
                    plain,
                )
            except (TambuliError, AttributeError, TypeError):
                pass
        return await _editor(
            request,
            member,
            form,
            campaign,
            status_code=400,
            error=refused.message,
            raw_json=raw_json,
        )
    return Redirect(f"{campaigns_path(org_id)}/{saved.id}?saved=1", status_code=303)


@post("/orgs/{org_id:int}/campaigns/new", include_in_schema=False, status_code=200)
async def create_campaign(request: Request[Any, Any, Any], org_id: FromPath[int]) -> Response[Any]:
    """Save a new draft from the editor."""
    await require_member(request, org_id, Role.EDITOR)
    return await _save(request, org_id, None)


@post(
    "/orgs/{org_id:int}/campaigns/{campaign_id:int}/edit", include_in_schema=False, status_code=200
)
async def update_campaign(
    request: Request[Any, Any, Any], org_id: FromPath[int], campaign_id: FromPath[int]
) -> Response[Any]:
    """Save changes from the editor (a launched campaign: name, sender, window and opening)."""
    await require_member(request, org_id, Role.EDITOR)
    campaign = await campaigns.get_campaign(console_of(request).db, org_id, campaign_id)
    return await _save(request, org_id, campaign)


async def _move(
    request: Request[Any, Any, Any], org_id: int, campaign_id: int, launch: bool
) -> Response[Any]:
    console = console_of(request)
    await require_member(request, org_id, Role.EDITOR)
    posted = await request.form()
    back = str(posted.get("back") or "")
    if launch:
        await campaigns.launch_campaign(
            console.db,
            console.clock,
            org_id,
            campaign_id,
            server_sender=console.settings.server_sender_id,
        )
        # Runs paused by a stop, or due while it lasted, fire now rather than at the next poll.
        sending_runtime_of(request).wake_campaigns()
    else:
        await campaigns.stop_campaign(console.db, console.clock, org_id, campaign_id)
    where = campaigns_path(org_id) if back == "list" else f"{campaigns_path(org_id)}/{campaign_id}"
    return Redirect(where, status_code=303)


@post(
    "/orgs/{org_id:int}/campaigns/{campaign_id:int}/launch",
    include_in_schema=False,
    status_code=303,
)
async def launch_campaign(
    request: Request[Any, Any, Any], org_id: FromPath[int], campaign_id: FromPath[int]
) -> Response[Any]:
    """Launch a draft or relaunch a stopped campaign (a refusal names why, as the API's)."""
    return await _move(request, org_id, campaign_id, launch=True)


@post(
    "/orgs/{org_id:int}/campaigns/{campaign_id:int}/stop", include_in_schema=False, status_code=303
)
async def stop_campaign(
    request: Request[Any, Any, Any], org_id: FromPath[int], campaign_id: FromPath[int]
) -> Response[Any]:
    """Stop a launched campaign."""
    return await _move(request, org_id, campaign_id, launch=False)
