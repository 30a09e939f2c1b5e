"""The organization's profile: settings everyone reads and owners change, registered senders,
and the webhook signing secret (shown once when made or rotated)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath

from tambuli.campaigns.opt_outs import DEFAULT_OPT_IN_KEYWORDS, DEFAULT_OPT_OUT_KEYWORDS
from tambuli.errors import InvalidInput, TambuliError
from tambuli.messaging import senders as registry
from tambuli.messaging.models import check_sender_id
from tambuli.organizations import profile as profiles
from tambuli.organizations.models import (
    ClientPushEvents,
    Role,
    check_keyword_list,
    parse_window_hours,
)
from tambuli.web.access import Member, require_member
from tambuli.web.context import console_of
from tambuli.web.rendering import render_page
from tambuli.webhooks import service as webhooks
from tambuli.webhooks.address_guard import check_webhook_url

# The fields of the settings form, in the order the page shows them.
FIELDS = (
    "default_sender_id",
    "delivery_window_hours",
    "inbound_url",
    "topup_url",
    "client_push_events",
    "opt_out_keywords",
    "opt_in_keywords",
)


def _form_of(profile: profiles.OrgProfile) -> dict[str, str]:
    seconds = profile.delivery_window_seconds
    hours = str((Decimal(seconds) / 3600).quantize(Decimal("0.0001")).normalize())
    return {
        "default_sender_id": profile.default_sender_id,
        "delivery_window_hours": hours,
        "inbound_url": profile.inbound_url,
        "topup_url": profile.topup_url,
        "client_push_events": profile.client_push_events.value,
        "opt_out_keywords": ", ".join(profile.opt_out_keywords.split(",")),
        "opt_in_keywords": ", ".join(profile.opt_in_keywords.split(",")),
    }


def _words(setting: str, defaults: tuple[str, ...]) -> list[str]:
    return [w for w in setting.split(",") if w] or list(defaults)


async def _organization_page(
    request: Request[Any, Any, Any],
    member: Member,
    status_code: int = 200,
    error: str = "",
    form: dict[str, str] | None = None,
    saved: bool = False,
    new_secret: str = "",
) -> Response[Any]:
    console = console_of(request)
    profile = await profiles.get_profile(console.db, member.org_id)
    return await render_page(
        request,
        "organization.html",
        status_code=status_code,
        member=member,
        profile=profile,
        form=form or _form_of(profile),
        window_hours=_form_of(profile)["delivery_window_hours"],
        stop_words=_words(profile.opt_out_keywords, DEFAULT_OPT_OUT_KEYWORDS),
        start_words=_words(profile.opt_in_keywords, DEFAULT_OPT_IN_KEYWORDS),
        senders=await registry.list_senders(console.db, member.org_id),
        server_sender=console.settings.server_sender_id,
        push_choices=[c.value for c in ClientPushEvents],
        can_change=member.may(Role.OWNER),
        error=error,
        saved=saved,
        new_secret=new_secret,
    )


@get("/orgs/{org_id:int}/organization", include_in_schema=False)
async def organization_page(
    request: Request[Any, Any, Any], org_id: FromPath[int]
) -> Response[Any]:
    """The organization's profile: read-only for editors and viewers."""
    member = await require_member(request, org_id, Role.VIEWER)
    return await _organization_page(request, member)


def _url(value: str) -> str:
    if not value.strip():
        return ""  # clears it: nothing is pushed there any more
    try:
        return check_webhook_url(value.strip())
    except ValueError as exc:
        raise InvalidInput(f"That URL cannot be used: {exc}") from exc


def _push_events(value: str) -> ClientPushEvents:
    try:
        return ClientPushEvents(value.strip().lower())
    except ValueError:
        raise InvalidInput("Choose receipts or all for the clientPushURL events") from None


@post("/orgs/{org_id:int}/organization", include_in_schema=False, status_code=200)
async def change_organization(
    request: Request[Any, Any, Any], org_id: FromPath[int]
) -> Response[Any]:
    """Owners only: change the messaging settings; a refused value changes nothing."""
    member = await require_member(request, org_id, Role.OWNER)
    console = console_of(request)
    sent = await request.form()
    form = {name: str(sent.get(name) or "") for name in FIELDS}
    try:
        sender = form["default_sender_id"].strip()
        await profiles.update_profile(
            console.db,
            org_id,
            default_sender_id=check_sender_id(sender) if sender else "",
            delivery_window_seconds=parse_window_hours(form["delivery_window_hours"]),
            inbound_url=_url(form["inbound_url"]),
            topup_url=_url(form["topup_url"]),
            client_push_events=_push_events(form["client_push_events"]),
            opt_out_keywords=check_keyword_list(form["opt_out_keywords"]),
            opt_in_keywords=check_keyword_list(form["opt_in_keywords"]),
        )
    except TambuliError as refused:
        return await _organization_page(
            request, member, status_code=400, error=refused.message, form=form
        )
    return await _organization_page(request, member, saved=True)


@post("/orgs/{org_id:int}/organization/webhook-secret", include_in_schema=False, status_code=200)
async def rotate_webhook_secret(
    request: Request[Any, Any, Any], org_id: FromPath[int]
) -> Response[Any]:
    """Owners only: make the webhook signing secret (or replace it) and show it this once."""
    member = await require_member(request, org_id, Role.OWNER)
    console = console_of(request)
    profile = await profiles.get_profile(console.db, org_id)
    if profile.webhook_secret:
        secret = await webhooks.rotate_webhook_secret(console.db, org_id)
    else:
        secret = await webhooks.read_webhook_secret(console.db, org_id)
    return await _organization_page(request, member, new_secret=secret)
