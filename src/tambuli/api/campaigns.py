"""Campaign management (Tambuli's extension; engageSPARK builds campaigns in its web app)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get, patch, post
from litestar.params import FromPath, JSONBody

from tambuli.api.auth import authorize_org, parse_path_id
from tambuli.api.runtime import runtime_of
from tambuli.campaigns import service as campaigns
from tambuli.campaigns.models import Campaign
from tambuli.clock import format_utc_timestamp
from tambuli.errors import CampaignNotFound

CAMPAIGNS_PATH = "/v1/organizations/{org_id:str}/campaigns"
CAMPAIGN_PATH = "/v1/organizations/{org_id:str}/campaigns/{campaign_id:str}"


class StepInput(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """One step: its delay (engageSPARK's delay object) and its text, by language."""

    # Required for SMS steps; a WhatsApp step has a message, a template or both.
    message: str | dict[str, str] | None = None
    delay: dict[str, Any] | None = None
    # "sms" (the default) or "whatsapp".
    channel: str | None = None
    # WhatsApp steps: the business number, the template ({"name", "language", "parameters"},
    # or such objects by language with a "default") and at most one uploaded File.
    from_: str | None = msgspec.field(default=None, name="from")
    template: dict[str, Any] | None = None
    image_file: str | None = None
    audio_file: str | None = None
    video_file: str | None = None
    document_file: str | None = None
    # Reminder campaigns: count the delay backwards from the date ("3 days before").
    before: bool | None = None
    # Poll campaigns: accepted answers, the text after an invalid one, how often, how long.
    choices: list[str | dict[str, Any]] | None = None
    retry: str | dict[str, str] | None = None
    max_retries: int | None = None
    timeout: dict[str, Any] | None = None
    on_timeout: str | None = None


class SendingWindowInput(msgspec.Struct):
    """Local hours (HH:MM) in which a campaign may send: from (inclusive) until (exclusive)."""

    from_: str = msgspec.field(name="from")
    until: str


class ReminderDateInput(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """Where a reminder finds its date: a subscription `args` key, or a contact custom field."""

    arg: str | None = None
    custom_field: str | None = None


class CampaignInput(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """A campaign definition (also the format of `tambuli campaign create --file`)."""

    name: str
    kind: str
    steps: list[StepInput]
    open_for_subscriptions: bool = True
    sending_window: SendingWindowInput | None = None
    sender: str | None = None
    reminder_date: ReminderDateInput | None = None


class CampaignChanges(msgspec.Struct, rename="camel", kw_only=True):
    """PATCH: only the given fields change (null clears sendingWindow, sender, reminderDate);
    kind and steps only while a draft."""

    name: str | msgspec.UnsetType = msgspec.UNSET
    kind: str | msgspec.UnsetType = msgspec.UNSET
    steps: list[StepInput] | msgspec.UnsetType = msgspec.UNSET
    open_for_subscriptions: bool | msgspec.UnsetType = msgspec.UNSET
    sending_window: SendingWindowInput | msgspec.UnsetType | None = msgspec.UNSET
    sender: str | msgspec.UnsetType | None = msgspec.UNSET
    reminder_date: ReminderDateInput | msgspec.UnsetType | None = msgspec.UNSET


class CampaignBody(msgspec.Struct, rename="camel"):
    """A campaign, its definition and how many runs it has in each status."""

    id: int
    name: str
    kind: str
    state: str
    open_for_subscriptions: bool
    steps: list[dict[str, Any]]
    sending_window: dict[str, Any] | None
    sender: str
    reminder_date: dict[str, Any] | None
    created_at: str
    updated_at: str
    launched_at: str | None
    stopped_at: str | None
    runs: dict[str, int]


class CampaignListBody(msgspec.Struct, rename="camel"):
    """Every campaign of the organization."""

    campaigns: list[CampaignBody]


class CreatedCampaignBody(msgspec.Struct, rename="camel"):
    """The ID of a new campaign (what `tambuli campaign create` prints)."""

    campaign_id: int
    campaign: CampaignBody


def campaign_id_of(text: str) -> int:
    """A campaign ID from the path; 404 when it cannot be one."""
    value = parse_path_id(text)
    if value is None:
        raise CampaignNotFound()
    return value


def render_campaign(campaign: Campaign, runs: dict[str, int] | None = None) -> CampaignBody:
    """The API shape of a campaign."""
    definition = campaign.definition
    return CampaignBody(
        id=campaign.id,
        name=campaign.name,
        kind=campaign.kind.value,
        state=campaign.state.value,
        open_for_subscriptions=campaign.open_for_subscriptions,
        steps=list(definition.get("steps", [])),
        sending_window=definition.get("sendingWindow"),
        sender=campaign.rules.sender,
        reminder_date=definition.get("reminderDate"),
        created_at=format_utc_timestamp(campaign.created_at),
        updated_at=format_utc_timestamp(campaign.updated_at),
        launched_at=_maybe_time(campaign.launched_at),
        stopped_at=_maybe_time(campaign.stopped_at),
        runs=runs or {},
    )


def _maybe_time(moment: Any) -> str | None:
    return None if moment is None else format_utc_timestamp(moment)


def _given(body: msgspec.Struct, *, keep_nulls: bool = False) -> dict[str, Any]:
    """The fields a caller sent, as plain JSON values (absent ones left out)."""
    plain = msgspec.to_builtins(body)
    assert isinstance(plain, dict)
    return {k: v for k, v in plain.items() if keep_nulls or v is not None}


@post(CAMPAIGNS_PATH, operation_id="createCampaign", tags=["Campaigns"], status_code=201)
async def create_campaign(
    request: Request[Any, Any, Any], org_id: FromPath[str], data: JSONBody[CampaignInput]
) -> CreatedCampaignBody:
    """Create a campaign as a draft; launch it to start it."""
    principal = await authorize_org(request, org_id)
    runtime = runtime_of(request)
    campaign = await campaigns.create_campaign(
        runtime.db, runtime.clock, principal.org_id, _given(data)
    )
    return CreatedCampaignBody(campaign_id=campaign.id, campaign=render_campaign(campaign))


@get(CAMPAIGNS_PATH, operation_id="listCampaigns", tags=["Campaigns"])
async def list_campaigns(
    request: Request[Any, Any, Any], org_id: FromPath[str]
) -> CampaignListBody:
    """Every campaign of the organization, oldest first."""
    principal = await authorize_org(request, org_id)
    found = await campaigns.list_campaigns(runtime_of(request).db, principal.org_id)
    return CampaignListBody(campaigns=[render_campaign(c) for c in found])


@get(CAMPAIGN_PATH, operation_id="getCampaign", tags=["Campaigns"])
async def get_campaign(
    request: Request[Any, Any, Any], org_id: FromPath[str], campaign_id: FromPath[str]
) -> CampaignBody:
    """One campaign with its run counts by status."""
    principal = await authorize_org(request, org_id)
    db = runtime_of(request).db
    campaign = await campaigns.get_campaign(db, principal.org_id, campaign_id_of(campaign_id))
    return render_campaign(campaign, await campaigns.count_runs(db, campaign.id))


@patch(CAMPAIGN_PATH, operation_id="updateCampaign", tags=["Campaigns"])
async def update_campaign(
    request: Request[Any, Any, Any],
    org_id: FromPath[str],
    campaign_id: FromPath[str],
    data: JSONBody[CampaignChanges],
) -> CampaignBody:
    """Change the given fields; name, openForSubscriptions, sendingWindow and sender always."""
    principal = await authorize_org(request, org_id)
    runtime = runtime_of(request)
    campaign = await campaigns.update_campaign(
        runtime.db,
        runtime.clock,
        principal.org_id,
        campaign_id_of(campaign_id),
        _given(data, keep_nulls=True),
        server_sender=runtime.settings.server_sender_id,
    )
    return render_campaign(campaign)


@post(CAMPAIGN_PATH + "/launch", operation_id="launchCampaign", tags=["Campaigns"], status_code=200)
async def launch_campaign(
    request: Request[Any, Any, Any], org_id: FromPath[str], campaign_id: FromPath[str]
) -> CampaignBody:
    """Launch a draft or relaunch a stopped campaign (paused runs resume)."""
    principal = await authorize_org(request, org_id)
    runtime = runtime_of(request)
    campaign = await campaigns.launch_campaign(
        runtime.db,
        runtime.clock,
        principal.org_id,
        campaign_id_of(campaign_id),
        server_sender=runtime.settings.server_sender_id,
    )
    runtime.wake_campaigns()
    return render_campaign(campaign)


@post(CAMPAIGN_PATH + "/stop", operation_id="stopCampaign", tags=["Campaigns"], status_code=200)
async def stop_campaign(
    request: Request[Any, Any, Any], org_id: FromPath[str], campaign_id: FromPath[str]
) -> CampaignBody:
    """Stop a launched campaign: no step fires until it is launched again."""
    principal = await authorize_org(request, org_id)
    runtime = runtime_of(request)
    campaign = await campaigns.stop_campaign(
        runtime.db, runtime.clock, principal.org_id, campaign_id_of(campaign_id)
    )
    return render_campaign(campaign)
