"""GET /healthz (the process answers) and GET /readyz (it can do its work now).

Ready means: the database takes writes, this process's worker loops are not failing, and its
channels are bound. A load balancer sends traffic only to a ready process; an operator reads the
reasons in the 503 body. Neither probe needs a token, so the reasons name states, never data.
"""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import MediaType, Request, Response, get

from tambuli.api.runtime import ApiRuntime, runtime_of
from tambuli.channels.base import LinkState

# The readiness probe's write waits at most this long for the database (seconds).
PROBE_WRITE_SECONDS = 2.0


@get("/healthz", include_in_schema=False)
async def health() -> dict[str, str]:
    """Liveness probe: the process answers HTTP."""
    return {"status": "ok"}


@get("/readyz", include_in_schema=False)
async def readiness(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """Readiness probe: 200 when ready, else 503 with the reasons."""
    reasons = await find_readiness_problems(runtime_of(request))
    if reasons:
        body: dict[str, Any] = {"status": "not ready", "reasons": reasons}
        return Response(body, status_code=503, media_type=MediaType.JSON)
    return Response({"status": "ready"}, status_code=200, media_type=MediaType.JSON)


async def find_readiness_problems(runtime: ApiRuntime) -> list[str]:
    """Why this process is not ready now (empty when it is)."""
    reasons = runtime.db.storage.describe_problems()
    if not reasons:
        try:
            async with asyncio.timeout(PROBE_WRITE_SECONDS):
                await runtime.db.check_writable()
        except Exception as exc:  # whatever stops the probe stops real writes too
            reasons.append(f"the database takes no writes ({type(exc).__name__})")
    if runtime.read_worker_problems is not None:
        reasons.extend(runtime.read_worker_problems())
    if runtime.read_channel_health is not None:
        channels = runtime.read_channel_health()
        if not channels:
            reasons.append("the channels are not open yet")
        reasons.extend(
            f"channel {channel.name} is {channel.state}"
            for channel in channels
            if channel.state != LinkState.UP
        )
    return reasons
