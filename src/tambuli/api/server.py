"""Serve the HTTP app with granian inside the running asyncio loop."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from granian.constants import Interfaces
from granian.log import LogLevels
from granian.server.embed import Server
from litestar import Litestar

from tambuli.api.runtime import runtime_of_app
from tambuli.api.send_lane import SendLane

# granian configures its loggers with handlers of its own, writing plain text to stdout.
_GRANIAN_LOGGERS: dict[str, Any] = {
    "loggers": {
        "_granian": {"handlers": [], "propagate": True},
        "granian.access": {"handlers": [], "propagate": True},
    }
}


async def serve_http(app: Litestar, host: str, port: int, *, backlog: int = 2048) -> None:
    """Serve until SIGINT or SIGTERM; returns after a graceful stop."""
    server = Server(
        SendLane(app, runtime_of_app(app)),
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        backlog=backlog,
        # granian warns that embedding is experimental at every start; that is known here.
        log_level=LogLevels.error,
        # Its records go through the process's own handler (and format, text or JSON).
        log_dictconfig=_GRANIAN_LOGGERS,
        log_access=False,
        websockets=False,
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, server.stop)
    try:
        await server.serve()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
