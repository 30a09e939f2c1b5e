"""What `serve` and `worker` set up for monitoring: queue depths for the metrics, the
optional metrics port, and the log format."""

from __future__ import annotations

import asyncio

import click

from tambuli.clock import Clock
from tambuli.db.engine import Database
from tambuli.messaging.delivery import count_queued_messages
from tambuli.metrics import QueueDepths, serve_metrics, watch_queue_depths
from tambuli.topups.service import count_open_topups
from tambuli.webhooks.service import count_push_backlog

metrics_port_option = click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Also serve GET /metrics (no token) on this port.",
)
metrics_host_option = click.option(
    "--metrics-host",
    default="127.0.0.1",
    show_default=True,
    help="Address of the --metrics-port listener; it has no token, keep it private.",
)


def start_metrics(db: Database, clock: Clock, host: str, port: int | None) -> None:
    """Count the queues at each scrape; serve the metrics on host:port when a port is given."""

    async def read_queue_depths() -> QueueDepths:
        now = clock.now()
        depths: list[tuple[str, str, int]] = []
        for queue, counts in (
            ("messages", await count_queued_messages(db, now)),
            ("topups", await count_open_topups(db, now)),
            ("webhooks", await count_push_backlog(db, now)),
        ):
            depths.extend((queue, state, rows) for state, rows in counts.items())
        return depths

    watch_queue_depths(read_queue_depths, asyncio.get_running_loop())
    if port is not None:
        try:
            serve_metrics(host, port)
        except OSError as exc:
            raise click.ClickException(f"cannot serve metrics on {host}:{port}: {exc}") from exc
