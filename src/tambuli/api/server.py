"""Serve the HTTP app with granian inside the running asyncio loop."""

from __future__ import annotations

import asyncio
import logging
import signal

from granian.constants import Interfaces
from granian.server.embed import Server
from litestar import Litestar

from tambuli.api.runtime import runtime_of_app
from tambuli.api.send_lane import SendLane


async def serve_http(app: Litestar, host: str, port: int, *, backlog: int = 2048) -> None:
    """Serve until SIGINT or SIGTERM; returns after a graceful stop."""
    # granian warns that embedding is experimental at every start; that is known here.
    logging.getLogger("_granian").setLevel(logging.ERROR)
    server = Server(
        SendLane(app, runtime_of_app(app)),
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        backlog=backlog,
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
