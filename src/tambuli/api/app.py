"""Build the Litestar application from a database, a clock and settings."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from litestar import Litestar
from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

from tambuli.api import (
    balance,
    campaign_runs,
    campaigns,
    contacts,
    files,
    groups,
    legacy_messages,
    legacy_subscriptions,
    messages,
    metrics,
    openapi,
    readiness,
    sms,
    status,
    subscriptions,
    topups,
    transfer,
    whatsapp,
)
from tambuli.api.body_fields import LenientRequest
from tambuli.api.errors import EXCEPTION_HANDLERS
from tambuli.api.gateway_callbacks import CHANNEL_CONFIG_STATE, GATEWAY_CALLBACK_ROUTES
from tambuli.api.runtime import ApiRuntime
from tambuli.api.whatsapp_webhooks import WHATSAPP_WEBHOOK_ROUTES, close_media_client
from tambuli.channels.base import ChannelHealth
from tambuli.channels.config.specs import ChannelConfig
from tambuli.services import Services

ROUTES: list[Any] = [
    openapi.openapi_document,
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
    files.list_files,
    files.upload_files,
    files.download_file,
    files.download_thumbnail,
    files.update_file,
    files.delete_file,
    sms.send_to_contact,
    sms.send_to_number,
    topups.send_topup,
    topups.list_topups,
    topups.get_topup,
    topups.send_legacy_topup,
    messages.list_messages,
    messages.get_message,
    whatsapp.send_to_contact,
    whatsapp.list_whatsapp,
    whatsapp.get_whatsapp,
    subscriptions.subscribe,
    subscriptions.unsubscribe,
    legacy_subscriptions.subscribe_contacts,
    legacy_messages.send_bulk,
    balance.get_available_balance,
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
    *WHATSAPP_WEBHOOK_ROUTES,
    status.get_status,
    metrics.get_metrics,
]


async def list_every_allowed_method(message: Message, scope: Scope) -> None:
    """Answer OPTIONS with every method of the path.

    Litestar's automatic OPTIONS answer lists only the methods of the handlers registered on
    the path before it was made (GET of a path whose POST comes later), so clients and API
    checkers were told a documented method does not exist.
    """
    if message["type"] != "http.response.start" or scope.get("method") != "OPTIONS":
        return
    handler = scope.get("route_handler")
    if handler is None or message["status"] != 204:
        return
    method_map = scope["litestar_app"].route_handler_method_map
    methods = sorted(
        {m for path in handler.paths for m in method_map.get(path, {})} - {"asgi", "websocket"}
    )
    if not methods:
        return
    MutableScopeHeaders.from_message(message)["allow"] = ", ".join(methods)


def build_app(
    services: Services,
    channel_config: ChannelConfig | None = None,
    read_channel_health: Callable[[], list[ChannelHealth]] | None = None,
    read_worker_problems: Callable[[], list[str]] | None = None,
    beside: Sequence[Any] = (),
    beside_state: Mapping[str, Any] | None = None,
) -> Litestar:
    """The HTTP application serving the engageSPARK-compatible API on the process's services,
    plus the route handlers `beside` it (the web console, with what it keeps in the app's
    state) on the same app."""
    runtime = ApiRuntime(
        services,
        read_channel_health=read_channel_health,
        read_worker_problems=read_worker_problems,
    )
    return Litestar(
        route_handlers=[*ROUTES, *beside],
        exception_handlers=EXCEPTION_HANDLERS,
        openapi_config=openapi.openapi_config(),
        request_max_body_size=services.settings.max_body_bytes,
        request_class=LenientRequest,
        before_send=[list_every_allowed_method],
        on_shutdown=[close_media_client],
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
