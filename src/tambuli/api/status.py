"""GET /v1/status (our extension): every worker process's channels, link state and counters.

Operator-only: it needs an operator token (`tambuli operator token create`).

The answering process's own channels are read live; those of other processes come from what
they last wrote to channel_status (messaging/channel_status.py), marked stale when too old.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get

from tambuli import __version__
from tambuli.api.auth import authorize_operator
from tambuli.api.runtime import runtime_of
from tambuli.channels.base import ChannelHealth
from tambuli.clock import format_utc_timestamp
from tambuli.messaging import channel_status


class ChannelStatusBody(msgspec.Struct, rename="camel"):
    """One channel of one worker process."""

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
    # The worker process running it ("host:pid"), and when it last reported.
    process: str
    updated_at: str
    # True when the process has not reported for a while (killed, or stuck).
    stale: bool


class StatusBody(msgspec.Struct, rename="camel"):
    """What runs in this process."""

    version: str
    # The answering process, and whether it runs workers (false for `serve --no-workers`).
    process: str
    workers: bool
    channels: list[ChannelStatusBody]


def _render_health(
    health: ChannelHealth, process: str, updated_at: str, stale: bool
) -> ChannelStatusBody:
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
        process=process,
        updated_at=updated_at,
        stale=stale,
    )


@get("/v1/status", include_in_schema=False)
async def get_status(request: Request[Any, Any, Any]) -> StatusBody:
    """Channel health of every process, for operators: an operator token reads it, an
    organization's token does not (it spans every organization's traffic)."""
    await authorize_operator(request)
    runtime = runtime_of(request)
    me = channel_status.name_this_process()
    now = runtime.clock.now()
    read = runtime.read_channel_health
    channels = (
        []
        if read is None
        else [_render_health(h, me, format_utc_timestamp(now), False) for h in read()]
    )
    for reported in await channel_status.read_channel_health(runtime.db, now):
        if reported.process == me and read is not None:
            continue  # read live above
        channels.append(
            _render_health(
                reported.health,
                reported.process,
                format_utc_timestamp(reported.updated_at),
                reported.stale,
            )
        )
    channels.sort(key=lambda c: (c.name, c.process))
    return StatusBody(version=__version__, process=me, workers=read is not None, channels=channels)
