"""The Prometheus metrics of one process: defined once here, counted where things happen.

Every layer may count (api, workers, messaging, db), so this module sits at the bottom and
imports nothing of Tambuli. Counting costs a lock and an addition; the hot send path counts
through children bound once at import (`SEND_ACCEPTED`), not through `labels()` per request.
Queue depths are not counted at all: they are read from the database when scraped, so every
process reports the same, true figure whatever the other processes did.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger("tambuli.metrics")
# A `_created` timestamp beside every series doubles the scrape for nothing Prometheus uses.
disable_created_metrics()  # type: ignore[no-untyped-call]

# The media type of the text exposition format.
METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST
# A scrape waits at most this long for the database to count the queues.
QUEUE_READ_TIMEOUT_SECONDS = 5.0

HTTP_REQUESTS = Counter(
    "tambuli_http_requests",
    "HTTP requests answered, by method, route template (unmatched: no route) and status.",
    ["method", "route", "status"],
)
SENDS = Counter(
    "tambuli_sms_sends",
    "SMS send requests (POST /v1/sms/...): accepted, or refused with their errorCode.",
    ["outcome", "error_code"],
)
SEND_ACCEPTED = SENDS.labels("accepted", "")
HANDOFFS = Counter(
    "tambuli_sms_handoffs",
    "Messages handed to a channel, by channel and outcome (accepted, transient, permanent).",
    ["channel", "outcome"],
)
RECEIPTS = Counter(
    "tambuli_sms_receipts",
    "Delivery receipts recorded on a message, by channel and status (confirmed, failed).",
    ["channel", "status"],
)
EARLY_RECEIPTS = Counter(
    "tambuli_sms_early_receipts",
    "Delivery receipts that came before their hand-off was recorded, by what became of them "
    "(stored; applied once the hand-off was recorded; pruned: never matched).",
    ["outcome"],
)
RECEIPT_LATENCY = Histogram(
    "tambuli_sms_receipt_latency_seconds",
    "Time from a message's hand-off to its delivery receipt, by channel.",
    ["channel"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 6 * 3600, 24 * 3600),
)
WEBHOOK_PUSHES = Counter(
    "tambuli_webhook_pushes",
    "Webhook push attempts, by outcome (delivered; retry: failed, tried again; failed: gave up).",
    ["outcome"],
)
TOPUPS = Counter(
    "tambuli_topups",
    "Top-up provider answers recorded, by outcome (succeeded, permanent, pending, transient, ...).",
    ["outcome"],
)
DB_COMMIT_SECONDS = Histogram(
    "tambuli_db_commit_seconds",
    "Time to commit a write transaction.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
LOOP_RESTARTS = Counter(
    "tambuli_worker_loop_restarts",
    "Worker loop steps that raised and were started again, by loop.",
    ["loop"],
)

# What `labels()` of a counter returns, for code that binds a child once.
CounterChild = Counter
# (queue, state, rows) as read from the database at scrape time.
QueueDepths = Sequence[tuple[str, str, int]]


def count_loop_restart(loop_name: str) -> None:
    """Count one failure of a worker loop that is started again."""
    LOOP_RESTARTS.labels(loop_name).inc()


class _QueueDepthCollector(Collector):
    """`tambuli_queue_depth`, read from the database by the process's event loop."""

    def __init__(self) -> None:
        self._read: Callable[[], Awaitable[QueueDepths]] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def watch(
        self, read: Callable[[], Awaitable[QueueDepths]], loop: asyncio.AbstractEventLoop
    ) -> None:
        with self._lock:
            self._read, self._loop = read, loop

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            read, loop = self._read, self._loop
        if read is None or loop is None or loop.is_closed():
            return
        # Scrapes run on a thread (never on the loop itself, see render_metrics), so the
        # database is read by the loop that owns its connections.
        future = asyncio.run_coroutine_threadsafe(_call(read), loop)
        try:
            depths = future.result(timeout=QUEUE_READ_TIMEOUT_SECONDS)
        except Exception:  # a scrape must answer even when the database does not
            future.cancel()
            log.warning("could not read the queue depths for a metrics scrape", exc_info=True)
            return
        family = GaugeMetricFamily(
            "tambuli_queue_depth",
            "Rows waiting in each queue (messages, topups, webhooks), by state.",
            labels=["queue", "state"],
        )
        for queue, state, rows in depths:
            family.add_metric([queue, state], rows)
        yield family


async def _call(read: Callable[[], Awaitable[QueueDepths]]) -> QueueDepths:
    return await read()


_QUEUES = _QueueDepthCollector()
REGISTRY.register(_QUEUES)


def watch_queue_depths(
    read: Callable[[], Awaitable[QueueDepths]], loop: asyncio.AbstractEventLoop
) -> None:
    """Report the queue depths `read` returns (run on `loop`) at every scrape."""
    _QUEUES.watch(read, loop)


def render_metrics_blocking() -> bytes:
    """Every metric of this process in the Prometheus text format.

    Blocks while the queue depths are read: call it on a thread, never on the event loop.
    """
    return generate_latest(REGISTRY)


async def render_metrics() -> bytes:
    """Every metric of this process in the Prometheus text format (from the event loop)."""
    return await asyncio.to_thread(render_metrics_blocking)


def serve_metrics(host: str, port: int) -> None:
    """Serve GET /metrics on host:port from a thread of Prometheus's own (no token: bind it
    where only the scraper reaches it)."""
    start_http_server(port, addr=host, registry=REGISTRY)
