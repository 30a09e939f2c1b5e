"""GET /v1/status (our extension): the process's channels, their link state and counters."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get

from tambuli import __version__
from tambuli.api.runtime import runtime_of
from tambuli.channels.base import ChannelHealth
from tambuli.errors import Unauthorized
from tambuli.organizations import service as organizations
from tambuli.organizations.models import parse_authorization_header


class ChannelStatusBody(msgspec.Struct, rename="camel"):
    """One channel as this process sees it."""

    name: str
    kind: str
    state: str
    parts_per_second: float
    window: int
    in_flight: int
    parts_sent: int
    parts_refused: int
    throttled: int
    reconnects: int
    last_error: str


class StatusBody(msgspec.Struct, rename="camel"):
    """What runs in this process."""

    version: str
    # False for `tambuli serve --no-workers`: channels live in the worker processes.
    workers: bool
    channels: list[ChannelStatusBody]


def _render_health(health: ChannelHealth) -> ChannelStatusBody:
    return ChannelStatusBody(
        name=health.name,
        kind=health.kind,
        state=health.state.value,
        parts_per_second=health.parts_per_second,
        window=health.window,
        in_flight=health.in_flight,
        parts_sent=health.parts_sent,
        parts_refused=health.parts_refused,
        throttled=health.throttled,
        reconnects=health.reconnects,
        last_error=health.last_error,
    )


@get("/v1/status", include_in_schema=False)
async def get_status(request: Request[Any, Any, Any]) -> StatusBody:
    """Channel health for operators; any live API token may read it."""
    runtime = runtime_of(request)
    token = parse_authorization_header(request.headers.get("authorization"))
    if token is None:
        raise Unauthorized()
    await organizations.identify_token_user(runtime.db, token)
    read = runtime.read_channel_health
    channels = [] if read is None else [_render_health(h) for h in read()]
    return StatusBody(version=__version__, workers=read is not None, channels=channels)
