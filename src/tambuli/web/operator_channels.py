"""Operator page of the channels and routes: each configured channel with the live state of
every process running it (as GET /v1/status reports them), and the route table in order."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from litestar import Request, Response, get

from tambuli.channels.config.file import load_channel_config
from tambuli.channels.config.specs import ChannelConfig, HttpChannelConfig, SmppChannelConfig
from tambuli.channels.sms.http_presets import PRESET_DEFAULTS
from tambuli.clock import format_utc_timestamp
from tambuli.errors import InvalidChannelConfig
from tambuli.messaging import channel_status
from tambuli.web.access import require_operator
from tambuli.web.context import ConsoleContext, console_of
from tambuli.web.rendering import render_page


@dataclass(frozen=True)
class LiveChannel:
    """One channel in one process, as its health last said."""

    name: str
    process: str
    state: str
    in_flight: int
    parts_sent: int
    parts_refused: int
    reconnects: int
    last_error: str
    updated: str
    stale: bool


def _read_config(console: ConsoleContext) -> tuple[ChannelConfig | None, str]:
    settings = console.settings
    path = Path(settings.channel_config_file) if settings.channel_config_file else None
    try:
        config = load_channel_config(
            path,
            os.environ,
            simulator_parts_per_second=settings.simulator_parts_per_second,
            http_presets=PRESET_DEFAULTS,
        )
    except InvalidChannelConfig as exc:
        return None, str(exc)
    return config, ""


async def _live_channels(console: ConsoleContext) -> list[LiveChannel]:
    """This process's channels read now, the others' from what they last wrote (as
    GET /v1/status does)."""
    me = channel_status.name_this_process()
    now = console.clock.now()
    read = console.read_channel_health
    found = [] if read is None else [(h, me, now, False) for h in read()]
    for reported in await channel_status.read_channel_health(console.db, now):
        if reported.process == me and read is not None:
            continue
        found.append((reported.health, reported.process, reported.updated_at, reported.stale))
    live = [
        LiveChannel(
            name=h.name,
            process=process,
            state=h.state.value,
            in_flight=h.in_flight,
            parts_sent=h.parts_sent,
            parts_refused=h.parts_refused,
            reconnects=h.reconnects,
            last_error=h.last_error,
            updated=format_utc_timestamp(at),
            stale=stale,
        )
        for h, process, at, stale in found
    ]
    return sorted(live, key=lambda c: (c.name, c.process))


def _address(spec: object) -> str:
    if isinstance(spec, SmppChannelConfig):
        return f"{spec.host}:{spec.port}"
    if isinstance(spec, HttpChannelConfig):
        return spec.url
    return ""


@get("/operator/channels", include_in_schema=False)
async def channels_page(request: Request[Any, Any, Any]) -> Response[Any]:
    """Configured channels with their live state, and the routes (first match wins)."""
    await require_operator(request)
    console = console_of(request)
    config, config_error = _read_config(console)
    channels = [] if config is None else list(config.channels)
    return await render_page(
        request,
        "operator_channels.html",
        channels=[(c, _address(c)) for c in channels],
        routes=[] if config is None else list(config.routes),
        config_error=config_error,
        source=str(config.source) if config is not None and config.source else "",
        live=await _live_channels(console),
    )
