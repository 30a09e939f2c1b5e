"""Build the Litestar application from a database, a clock and settings."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from litestar import Litestar, MediaType, Request, get
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import RedocRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme

from tambuli import __version__
from tambuli.api import (
    balance,
    campaign_runs,
    campaigns,
    contacts,
    groups,
    legacy_subscriptions,
    messages,
    metrics,
    readiness,
    sms,
    status,
    subscriptions,
    topups,
    transfer,
)
from tambuli.api.errors import EXCEPTION_HANDLERS
from tambuli.api.gateway_callbacks import CHANNEL_CONFIG_STATE, GATEWAY_CALLBACK_ROUTES
from tambuli.api.runtime import ApiRuntime
from tambuli.channels.base import ChannelHealth
from tambuli.channels.config import ChannelConfig
from tambuli.clock import Clock
from tambuli.db.engine import Database
from tambuli.db.group_commit import GroupCommit
from tambuli.messaging.sending import open_outbox
from tambuli.settings import Settings
from tambuli.topups.providers import open_topup_desk
from tambuli.topups.service import TopupDesk


@get("/openapi.json", include_in_schema=False, media_type=MediaType.JSON)
async def openapi_document(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Tambuli's own OpenAPI document, generated from the request and response structs."""
    return request.app.openapi_schema.to_schema()


ROUTES: list[Any] = [
    openapi_document,
    readiness.health,
    readiness.readiness,
    balance.get_org_balance,
    contacts.list_contacts,
    contacts.create_contact,
    contacts.get_contact,
    contacts.update_contact,
    contacts.delete_contact,
    groups.list_groups,
    groups.create_group,
    groups.list_custom_fields,
    groups.create_custom_field,
    transfer.import_contacts,
    transfer.export_contacts,
    sms.send_to_contact,
    sms.send_to_number,
    topups.send_topup,
    topups.list_topups,
    topups.get_topup,
    topups.send_legacy_topup,
    messages.list_messages,
    messages.get_message,
    subscriptions.subscribe,
    subscriptions.unsubscribe,
    legacy_subscriptions.subscribe_contacts,
    campaigns.create_campaign,
    campaigns.list_campaigns,
    campaigns.get_campaign,
    campaigns.update_campaign,
    campaigns.launch_campaign,
    campaigns.stop_campaign,
    campaign_runs.list_runs,
    campaign_runs.get_run,
    campaign_runs.get_schedule,
    campaign_runs.list_answers,
    campaign_runs.list_run_answers,
    campaign_runs.export_answers,
    *GATEWAY_CALLBACK_ROUTES,
    status.get_status,
    metrics.get_metrics,
]


def build_app(
    db: Database,
    clock: Clock,
    settings: Settings,
    wake_delivery: Callable[[], None] | None = None,
    wake_campaigns: Callable[[], None] | None = None,
    wake_topups: Callable[[], None] | None = None,
    wake_events: Callable[[], None] | None = None,
    topups: TopupDesk | None = None,
    channel_config: ChannelConfig | None = None,
    read_channel_health: Callable[[], list[ChannelHealth]] | None = None,
    read_worker_problems: Callable[[], list[str]] | None = None,
    beside: Sequence[Any] = (),
    beside_state: Mapping[str, Any] | None = None,
) -> Litestar:
    """The HTTP application serving the engageSPARK-compatible API, plus the route handlers
    `beside` it (the web console, with what it keeps in the app's state) on the same app."""
    commits = GroupCommit(db)
    runtime = ApiRuntime(
        db=db,
        clock=clock,
        settings=settings,
        outbox=open_outbox(db, clock),
        commits=commits,
        topups=topups or open_topup_desk(db, clock, settings),
    )
    if wake_delivery is not None:
        runtime.wake_delivery = wake_delivery
    if wake_campaigns is not None:
        runtime.wake_campaigns = wake_campaigns
    if wake_topups is not None:
        runtime.wake_topups = wake_topups
    if wake_events is not None:
        runtime.wake_events = wake_events
    runtime.read_channel_health = read_channel_health
    runtime.read_worker_problems = read_worker_problems
    openapi = OpenAPIConfig(
        title="Tambuli",
        version=__version__,
        description="engageSPARK-compatible messaging API. Send `Authorization: Token <token>`.",
        path="/docs",
        render_plugins=[RedocRenderPlugin(path="/")],
        security=[{"apiToken": []}],
        components=Components(
            security_schemes={
                "apiToken": SecurityScheme(
                    type="http", scheme="token", description="Authorization: Token <token>"
                )
            }
        ),
    )
    return Litestar(
        route_handlers=[*ROUTES, *beside],
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=openapi,
        request_max_body_size=settings.max_body_bytes,
        state=_state(runtime, channel_config, beside_state or {}),
        # The process configures logging once (cli/main.py: text or JSON); Litestar's own
        # configuration would replace it with its format when the app starts.
        logging_config=None,
        debug=False,
    )


def _state(
    runtime: ApiRuntime, channel_config: ChannelConfig | None, beside: Mapping[str, Any]
) -> Any:
    from litestar.datastructures import State

    # The gateway callbacks find their channel's token here (None: no gateway channels).
    return State({**beside, "runtime": runtime, CHANNEL_CONFIG_STATE: channel_config})
