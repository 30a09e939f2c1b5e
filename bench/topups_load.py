"""Async top-up load: POST …/topup/ with "async": true at c64, then wait for every top-up.

Starts a fresh `tambuli serve` (its workers and the built-in airtime simulator, default
settings) on a new SQLite file, or on a scratch PostgreSQL database it creates and drops again,
creates a well-funded organization, sends a few warm-up top-ups one by one, then keeps
`--concurrency` keep-alive connections busy with POST /v1/organizations/{orgId}/topup/
({"fullPhoneNumber": …, "maxAmount": 25, "async": true, "clientRef": …}, each request to a
number of its own) for `--seconds`. It then reads the `topups` table (read-only) until every
top-up of the organization has succeeded or failed, and reports:

- accepted/s: 202 answers / (first request sent → last answer);
- the accept latency (p50, p90, p99, max) and every answer that was not a 202;
- drain: load stop (last answer) → the last top-up's finished_at;
- top-ups finished during the load, the backlog at load stop, queued → finished latency;
- succeeded/failed counts, lost top-ups (accepted but missing or never finished);
- the server's peak RSS and CPU, and the database writes it made per top-up.

    .venv/bin/python -m bench.topups_load [--seconds 15] [--concurrency 64] [--quick]
        [--database-url postgresql://postgres@127.0.0.1:5432/tambuli_bench_topups]
        [--server-env KEY=VALUE ...] [--drain-timeout S] [--check-targets]
        [--json-out FILE] [--server-log FILE]

The load generator is a small asyncio HTTP/1.1 client in this process. On the two-core machine
httpx's AsyncClient reached about 1,000 GET /healthz per second at 8 connections using a whole
core, and about 100 per second at 64, so it, not the server, would have been the limit; this
client did 9,000-13,000 per second with half a core.

Load and database traffic go only to 127.0.0.1. The issue's target (one process, two cores):
>= 1,000 accepted/s at c64 for 15 s, and every top-up finished within 5 s after the load stops.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import asyncpg

from bench.api_load import (
    HOST,
    OTHER_CPU_WARNING_PERCENT,
    BenchError,
    Organization,
    RssSampler,
    Server,
    create_organization,
    describe_machine,
    find_server_errors,
    format_machine,
    is_cancellation,
    measure_busy_cpu_percent,
    read_machine_busy_cpu_seconds,
    read_proc_status_kib,
    read_process_cpu_seconds,
    run_server,
    run_worker_process,
    summarise_server_errors,
)
from bench.campaign_load import (
    _as_utc,
    check_scratch_url,
    describe_postgres,
    read_own_cpu_seconds,
    read_postgres_cpu_seconds,
    scratch_database,
)
from tambuli.topups.models import parse_topup_id

DEFAULT_SECONDS = 15.0
QUICK_SECONDS = 3.0
DEFAULT_CONCURRENCY = 64
# After the load stops, how long the top-ups may take to finish before the run gives up.
DEFAULT_DRAIN_TIMEOUT_S = 120.0
# Give up earlier when no top-up changed status for this long.
STALL_S = 30.0
# Generous, so slow answers show up as latency rather than as timeouts.
REQUEST_TIMEOUT_S = 10.0
# Progress is sampled every second during the load (it costs the database a count) and more
# often afterwards, so the drain's end is seen soon; the reported drain comes from the rows.
LOAD_POLL_INTERVAL_S = 1.0
DRAIN_POLL_INTERVAL_S = 0.1
# Sent one by one before the load, so first-use costs (catalogue, imports) stay out of it.
WARM_UP_TOPUPS = 20
WARM_UP_TIMEOUT_S = 30.0
MAX_AMOUNT = 25
PHONE_PREFIX = "63917"
PHONE_DIGITS = 7
# The simulator refuses (0001), fails transiently (0002), waits (0007) or reports a ported
# number (0008) for these last four digits; the load uses none of them.
SIMULATOR_ENDINGS = frozenset({1, 2, 7, 8})
TARGET_ACCEPTED_PER_S = 1_000.0
TARGET_DRAIN_S = 5.0
TARGET_CONCURRENCY = 64
FINAL_STATUSES = ("succeeded", "failed")
STATUSES = ("queued", "sending", *FINAL_STATUSES)
COMMITS_MARKER = re.compile(r"database write transactions: (\d+)")
# How many kinds of PostgreSQL session wait the report lists.
WAIT_EVENTS_SHOWN = 4
# How many answers that were not 202 are kept in full for the report.
KEPT_ERROR_BODIES = 5


@dataclass
class LoadResult:
    """What the load generator sent and got back."""

    # time.monotonic() of the first request sent and of the last answer received.
    started: float = 0.0
    stopped: float = 0.0
    sent: int = 0
    # Row IDs of the accepted top-ups, from the IDs in the 202 answers.
    accepted_ids: list[int] = field(default_factory=list)
    # Seconds after `started` at which each 202 arrived.
    accepted_at: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    socket_errors: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    error_bodies: list[str] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        """First request sent → last answer."""
        return max(0.0, self.stopped - self.started)

    @property
    def non_202(self) -> int:
        """Answers other than 202."""
        return sum(count for status, count in self.statuses.items() if status != 202)


@dataclass
class Snapshot:
    """Top-ups of the organization by status, seconds after the load started."""

    at_s: float
    counts: dict[str, int]


@dataclass
class Outcome:
    """Everything one run measured."""

    database: str
    seconds: float
    concurrency: int
    sent: int
    accepted: int
    load_s: float
    accepted_per_s: float
    # 202 answers in each whole second of the load.
    accepted_per_second: list[int]
    statuses: dict[str, int]
    non_202: int
    socket_errors: dict[str, int]
    latency_ms: dict[str, float]
    error_bodies: list[str]
    topups: int
    by_status: dict[str, int]
    finished_during_load: int
    finished_during_load_per_s: float
    backlog_at_stop: int
    drain_s: float | None
    # Seconds from load stop until the poll saw every top-up final (an upper bound of drain).
    drain_seen_s: float | None
    queued_to_finished_ms: dict[str, float]
    complete: bool
    missing: int
    unfinished: int
    warm_up: int
    server_cpu_load_percent: float
    client_cpu_load_percent: float
    postgres_cpu_load_percent: float
    other_cpu_load_percent: float
    server_cpu_drain_s: float
    drain_wall_s: float
    peak_rss_mib: float
    # The server's PostgreSQL sessions by wait event, summed over the samples during the load.
    postgres_sessions: dict[str, int] = field(default_factory=dict)
    write_transactions: int | None = None
    writes_per_topup: float | None = None
    progress: list[Snapshot] = field(default_factory=list)


class Probe(Protocol):
    """Read-only queries against the server's database."""

    async def counts(self, org_id: int) -> dict[str, int]:
        """How many top-ups of the organization are in each status."""
        ...

    async def rows(self, org_id: int) -> list[tuple[int, str, datetime, datetime | None]]:
        """(id, status, created_at, finished_at) of every top-up of the organization."""
        ...

    async def wait_events(self) -> dict[str, int]:
        """What the database's other sessions are doing right now (PostgreSQL only)."""
        ...

    async def close(self) -> None:
        """Let go of the connection."""
        ...


COUNTS = "SELECT status, count(*) FROM topups WHERE org_id = {p} GROUP BY status"
ROWS = "SELECT id, status, created_at, finished_at FROM topups WHERE org_id = {p}"
# The server's sessions by what they wait for: a lock, the client (the server's event loop), or
# nothing (running).
WAIT_EVENTS = (
    "SELECT coalesce(wait_event_type || ':' || wait_event, 'running') || ' (' "
    "|| coalesce(state, '?') || ')', count(*) FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid() GROUP BY 1"
)


def _to_rows(raw: Sequence[Sequence[Any]]) -> list[tuple[int, str, datetime, datetime | None]]:
    return [
        (int(r[0]), str(r[1]), _as_utc(r[2]), None if r[3] is None else _as_utc(r[3])) for r in raw
    ]


class SqliteProbe:
    """Reads the SQLite file on its own read-only connection, off the event loop."""

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
        )

    def _all(self, sql: str, *params: Any) -> list[Any]:
        return self._conn.execute(sql, params).fetchall()

    async def counts(self, org_id: int) -> dict[str, int]:
        """How many top-ups of the organization are in each status."""
        found = await asyncio.to_thread(self._all, COUNTS.format(p="?"), org_id)
        return {str(status): int(count) for status, count in found}

    async def rows(self, org_id: int) -> list[tuple[int, str, datetime, datetime | None]]:
        """(id, status, created_at, finished_at) of every top-up of the organization."""
        return _to_rows(await asyncio.to_thread(self._all, ROWS.format(p="?"), org_id))

    async def wait_events(self) -> dict[str, int]:
        """Nothing: SQLite has no sessions to look at."""
        return {}

    async def close(self) -> None:
        """Close the connection."""
        self._conn.close()


class PostgresProbe:
    """Reads the scratch PostgreSQL database on one asyncpg connection."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    @classmethod
    async def open(cls, url: str) -> PostgresProbe:
        """Connect to the database at the plain postgresql:// URL."""
        return cls(await asyncpg.connect(url))

    async def counts(self, org_id: int) -> dict[str, int]:
        """How many top-ups of the organization are in each status."""
        found = await self._conn.fetch(COUNTS.format(p="$1"), org_id)
        return {str(row[0]): int(row[1]) for row in found}

    async def rows(self, org_id: int) -> list[tuple[int, str, datetime, datetime | None]]:
        """(id, status, created_at, finished_at) of every top-up of the organization."""
        return _to_rows(await self._conn.fetch(ROWS.format(p="$1"), org_id))

    async def wait_events(self) -> dict[str, int]:
        """The server's sessions by wait event and state."""
        return {str(row[0]): int(row[1]) for row in await self._conn.fetch(WAIT_EVENTS)}

    async def close(self) -> None:
        """Close the connection."""
        await self._conn.close()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--seconds",
        type=float,
        default=None,
        help=f"seconds of load (default {DEFAULT_SECONDS:g}, {QUICK_SECONDS:g} with --quick)",
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"smoke run: {QUICK_SECONDS:g} s of load"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        help=f"keep-alive connections, one request in flight each (default {DEFAULT_CONCURRENCY})",
    )
    parser.add_argument(
        "--database-url",
        help="postgresql://USER@127.0.0.1:5432/tambuli_bench_… : a scratch database that is "
        "dropped, created, used and dropped again (default: a new SQLite file)",
    )
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a TAMBULI_* setting for the server (repeatable); defaults otherwise",
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=DEFAULT_DRAIN_TIMEOUT_S,
        help="seconds after the load to wait for every top-up to finish "
        f"(default {DEFAULT_DRAIN_TIMEOUT_S:g})",
    )
    parser.add_argument(
        "--check-targets",
        action="store_true",
        help="exit 1 when a target is missed (errors and lost top-ups always exit 1)",
    )
    parser.add_argument(
        "--worker-process",
        action="store_true",
        help="run the workers in their own `tambuli worker` process beside "
        "`tambuli serve --no-workers` (two processes, one core each)",
    )
    parser.add_argument("--json-out", type=Path, help="also write the results as JSON here")
    parser.add_argument("--server-log", type=Path, help="keep the server's log in this file")
    args = parser.parse_args(argv)
    if args.seconds is None:
        args.seconds = QUICK_SECONDS if args.quick else DEFAULT_SECONDS
    if not 1 <= args.seconds <= 600:
        parser.error("--seconds must be between 1 and 600")
    if not 1 <= args.concurrency <= 1024:
        parser.error("--concurrency must be between 1 and 1024")
    if not 1 <= args.drain_timeout <= 3600:
        parser.error("--drain-timeout must be between 1 and 3600 seconds")
    env: dict[str, str] = {}
    for item in args.server_env:
        key, sep, value = item.partition("=")
        if not sep or not key.startswith("TAMBULI_") or key == "TAMBULI_DATABASE_URL":
            parser.error(f"--server-env takes TAMBULI_KEY=VALUE (not the database URL): {item!r}")
        env[key] = value
    args.server_env = env
    args.scratch = None
    if args.database_url is not None:
        try:
            args.scratch = check_scratch_url(args.database_url)
        except BenchError as exc:
            parser.error(str(exc))
    return args


def phone_sequences() -> Iterator[int]:
    """Sequence numbers of distinct numbers, none ending in a simulator behaviour."""
    for sequence in range(10**PHONE_DIGITS):
        if sequence % 10_000 not in SIMULATOR_ENDINGS:
            yield sequence


def topup_request(org: Organization, sequence: int) -> bytes:
    """One raw HTTP/1.1 request: an async top-up to a number of its own."""
    body = json.dumps(
        {
            "fullPhoneNumber": f"{PHONE_PREFIX}{sequence:0{PHONE_DIGITS}d}",
            "maxAmount": MAX_AMOUNT,
            "async": True,
            "clientRef": f"bench-{sequence}",
        }
    ).encode()
    head = (
        f"POST /v1/organizations/{org.org_id}/topup/ HTTP/1.1\r\nHost: {HOST}\r\n"
        f"Authorization: Token {org.token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body


class Connection:
    """One keep-alive HTTP/1.1 connection to the server, opened when first needed."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        """Send one request and read its answer: (status, body)."""
        if self._reader is None or self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(HOST, self._port)
        self._writer.write(raw)
        status, body, keep_alive = await read_response(self._reader)
        if not keep_alive:
            self.close()
        return status, body

    def close(self) -> None:
        """Drop the connection; the next request opens a new one."""
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, whether the connection stays open) of one HTTP/1.1 answer."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise ValueError(f"not an HTTP/1.1 status line: {lines[0]!r}")
    status = int(parts[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip().lower()
    keep_alive = headers.get("connection") != "close"
    if headers.get("transfer-encoding") == "chunked":
        chunks: list[bytes] = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            chunks.append(chunk[:-2])
        return status, b"".join(chunks), keep_alive
    length = int(headers.get("content-length", "0"))
    return status, await reader.readexactly(length) if length else b"", keep_alive


def read_topup_row_id(body: bytes) -> int:
    """The row ID in a 202 answer's top-up ID (TOPUP<stamp>-<orgId>-<row>)."""
    answer = json.loads(body)
    key = parse_topup_id(str(answer.get("id", "")))
    if key is None or answer.get("queued") is not True:
        raise ValueError(f"not a queued top-up: {body[:300]!r}")
    return key.row_id


async def generate_load(
    port: int, org: Organization, sequences: Iterator[int], seconds: float, concurrency: int
) -> LoadResult:
    """Keep `concurrency` connections busy with one request each until `seconds` passed."""
    result = LoadResult()
    result.started = time.monotonic()
    deadline = result.started + seconds

    async def worker() -> None:
        connection = Connection(port)
        try:
            while time.monotonic() < deadline:
                raw = topup_request(org, next(sequences))
                result.sent += 1
                began = time.perf_counter()
                try:
                    async with asyncio.timeout(REQUEST_TIMEOUT_S):
                        status, body = await connection.request(raw)
                except TimeoutError:
                    kind = "timeout"
                except ConnectionRefusedError:
                    kind = "connect"
                except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                    kind = "read"
                except ValueError:
                    kind = "malformed"
                else:
                    kind = ""
                answered = time.monotonic()
                if kind:
                    result.socket_errors[kind] = result.socket_errors.get(kind, 0) + 1
                    connection.close()
                    result.stopped = max(result.stopped, answered)
                    # A server that refuses connections would otherwise be hammered.
                    await asyncio.sleep(0.05)
                    continue
                result.latencies.append(time.perf_counter() - began)
                result.stopped = max(result.stopped, answered)
                result.statuses[status] = result.statuses.get(status, 0) + 1
                if status == 202:
                    try:
                        result.accepted_ids.append(read_topup_row_id(body))
                    except ValueError as exc:
                        result.error_bodies.append(str(exc))
                        continue
                    result.accepted_at.append(answered - result.started)
                elif len(result.error_bodies) < KEPT_ERROR_BODIES:
                    result.error_bodies.append(f"{status}: {body[:300].decode(errors='replace')}")
        finally:
            connection.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return result


async def warm_up(port: int, org: Organization, sequences: Iterator[int], count: int) -> list[int]:
    """Send `count` top-ups one by one; the row IDs of the accepted ones."""
    connection = Connection(port)
    ids: list[int] = []
    try:
        for _ in range(count):
            status, body = await connection.request(topup_request(org, next(sequences)))
            if status != 202:
                raise BenchError(f"a warm-up top-up answered {status}: {body[:500]!r}")
            ids.append(read_topup_row_id(body))
    finally:
        connection.close()
    return ids


def _unfinished(counts: dict[str, int]) -> int:
    return sum(n for status, n in counts.items() if status not in FINAL_STATUSES)


async def wait_until_finished(
    probe: Probe, org_id: int, expected: int, timeout_s: float
) -> dict[str, int]:
    """Poll until the organization has `expected` top-ups or more and none is unfinished."""
    deadline = time.monotonic() + timeout_s
    while True:
        counts = await probe.counts(org_id)
        if sum(counts.values()) >= expected and not _unfinished(counts):
            return counts
        if time.monotonic() > deadline:
            raise BenchError(f"the warm-up top-ups did not finish in {timeout_s:g}s: {counts}")
        await asyncio.sleep(DRAIN_POLL_INTERVAL_S)


async def watch_load(
    probe: Probe,
    org_id: int,
    started: float,
    load: asyncio.Task[LoadResult],
    waits: dict[str, int],
) -> list[Snapshot]:
    """Sample the top-ups by status (and `waits`) every second until the load ends."""
    progress: list[Snapshot] = []
    while not load.done():
        await asyncio.wait({load}, timeout=LOAD_POLL_INTERVAL_S)
        if not load.done():
            for event, n in (await probe.wait_events()).items():
                waits[event] = waits.get(event, 0) + n
        counts = await probe.counts(org_id)
        progress.append(Snapshot(round(time.monotonic() - started, 2), counts))
        print(f"  {progress[-1].at_s:6.1f}s  {format_counts(counts)}", flush=True)
    return progress


async def watch_drain(
    probe: Probe,
    org_id: int,
    started: float,
    expected: int,
    timeout_s: float,
    progress: list[Snapshot],
) -> bool:
    """Poll until every top-up is final (and at least `expected` exist), or give up."""
    stopped = time.monotonic()
    last_change = stopped
    previous: dict[str, int] | None = None
    printed = stopped
    while True:
        counts = await probe.counts(org_id)
        now = time.monotonic()
        progress.append(Snapshot(round(now - started, 2), counts))
        if counts != previous:
            previous, last_change = counts, now
        if not _unfinished(counts) and sum(counts.values()) >= expected:
            return True
        if now - printed >= 1.0:
            printed = now
            print(f"  {now - started:6.1f}s  {format_counts(counts)}", flush=True)
        if now - stopped > timeout_s:
            print(f"  gave up: top-ups still unfinished {timeout_s:g}s after the load")
            return False
        if now - last_change > STALL_S:
            print(f"  gave up: no top-up changed for {STALL_S:g}s")
            return False
        await asyncio.sleep(DRAIN_POLL_INTERVAL_S)


def format_counts(counts: dict[str, int]) -> str:
    """Top-ups by status, in their order."""
    known = [f"{status} {counts.get(status, 0):>7,}" for status in STATUSES]
    other = [f"{status} {n:,}" for status, n in sorted(counts.items()) if status not in STATUSES]
    return "  ".join(known + other)


def percentiles_ms(values: Sequence[float]) -> dict[str, float]:
    """p50, p90, p99 and max of durations in seconds, in milliseconds."""
    if not values:
        return {"p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0}
    ordered = sorted(values)

    def at(fraction: float) -> float:
        return round(1000 * ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 1)

    return {"p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "max": round(1000 * ordered[-1], 1)}


@dataclass
class CpuMark:
    """CPU seconds used so far by the server, this process, PostgreSQL and the machine."""

    server: float
    client: float
    postgres: dict[int, float]
    busy: float

    @classmethod
    def take(cls, server_pid: int, with_postgres: bool) -> CpuMark:
        """Read every counter now."""
        return cls(
            server=read_process_cpu_seconds(server_pid),
            client=read_own_cpu_seconds(),
            postgres=read_postgres_cpu_seconds() if with_postgres else {},
            busy=read_machine_busy_cpu_seconds(),
        )

    def since(self, before: CpuMark) -> dict[str, float]:
        """CPU seconds each used between two marks; `other` is everything else."""
        server = self.server - before.server
        client = self.client - before.client
        postgres = sum(used - before.postgres.get(pid, 0.0) for pid, used in self.postgres.items())
        other = max(0.0, self.busy - before.busy - server - client - postgres)
        return {"server": server, "client": client, "postgres": postgres, "other": other}


async def measure(
    args: argparse.Namespace, server: Server, org: Organization, probe: Probe, label: str
) -> Outcome:
    """Warm up, load for `args.seconds`, then wait until every top-up finished."""
    sequences = phone_sequences()
    warmed = await warm_up(server.port, org, sequences, WARM_UP_TOPUPS)
    await wait_until_finished(probe, org.org_id, len(warmed), WARM_UP_TIMEOUT_S)
    with_postgres = label == "postgresql"
    sampler = RssSampler(server.process.pid)
    sampler.start()
    try:
        before = CpuMark.take(server.process.pid, with_postgres)
        wall_origin = time.time()
        mono_origin = time.monotonic()
        load = asyncio.create_task(
            generate_load(server.port, org, sequences, args.seconds, args.concurrency)
        )
        waits: dict[str, int] = {}
        progress = await watch_load(probe, org.org_id, mono_origin, load, waits)
        sent = load.result()
        at_stop = CpuMark.take(server.process.pid, with_postgres)
        print(
            f"  load stopped: {len(sent.accepted_ids):,} accepted in {sent.duration_s:.2f}s, "
            f"{sent.non_202} other answers, {sum(sent.socket_errors.values())} socket errors; "
            "waiting for the top-ups to finish",
            flush=True,
        )
        expected = len(warmed) + len(sent.accepted_ids)
        complete = await watch_drain(
            probe, org.org_id, mono_origin, expected, args.drain_timeout, progress
        )
        seen = time.monotonic()
        after = CpuMark.take(server.process.pid, with_postgres)
    finally:
        sampler.sample_rss()
        sampler.stop()
    peak_kib = max(sampler.peak_kib, read_proc_status_kib(server.process.pid, "VmHWM") or 0)
    rows = await probe.rows(org.org_id)
    # The load's stop in wall-clock seconds: the server stamps rows with this clock.
    load_stop_wall = wall_origin + (sent.stopped - mono_origin)
    return summarise(
        args,
        label,
        sent,
        rows,
        warmed,
        complete,
        load_stop_wall,
        seen - sent.stopped if complete else None,
        (at_stop.since(before), after.since(at_stop), seen - sent.stopped),
        peak_kib,
        progress,
        waits,
    )


def summarise(
    args: argparse.Namespace,
    label: str,
    sent: LoadResult,
    rows: Sequence[tuple[int, str, datetime, datetime | None]],
    warmed: Sequence[int],
    complete: bool,
    stop_wall: float,
    drain_seen_s: float | None,
    cpu: tuple[dict[str, float], dict[str, float], float],
    peak_kib: int,
    progress: list[Snapshot],
    waits: dict[str, int],
) -> Outcome:
    """Combine the answers, the rows and the CPU counters into one Outcome."""
    load_cpu, drain_cpu, drain_wall = cpu
    by_id = {row[0]: row for row in rows}
    accepted = set(sent.accepted_ids) | set(warmed)
    missing = len(accepted - by_id.keys())
    by_status: dict[str, int] = {}
    for _, status, _, _ in rows:
        by_status[status] = by_status.get(status, 0) + 1
    finished = [row[3].timestamp() for row in rows if row[3] is not None]
    unfinished = sum(1 for row in rows if row[1] not in FINAL_STATUSES)
    loaded = [by_id[i] for i in sent.accepted_ids if i in by_id]
    finished_during = sum(1 for r in loaded if r[3] is not None and r[3].timestamp() <= stop_wall)
    drain_s = None
    if complete and finished:
        drain_s = round(max(0.0, max(finished) - stop_wall), 3)
    lags = [(r[3] - r[2]).total_seconds() for r in loaded if r[3] is not None]
    load_s = sent.duration_s
    whole_seconds = int(load_s)
    per_second = [0] * whole_seconds
    for at in sent.accepted_at:
        if int(at) < whole_seconds:
            per_second[int(at)] += 1

    def percent(used: float) -> float:
        return round(100 * used / load_s, 1) if load_s else 0.0

    return Outcome(
        database=label,
        seconds=args.seconds,
        concurrency=args.concurrency,
        sent=sent.sent,
        accepted=len(sent.accepted_ids),
        load_s=round(load_s, 3),
        accepted_per_s=round(len(sent.accepted_ids) / load_s, 1) if load_s else 0.0,
        accepted_per_second=per_second,
        statuses={str(k): v for k, v in sorted(sent.statuses.items())},
        non_202=sent.non_202,
        socket_errors=dict(sent.socket_errors),
        latency_ms=percentiles_ms(sent.latencies),
        error_bodies=sent.error_bodies,
        topups=len(rows),
        by_status=dict(sorted(by_status.items())),
        finished_during_load=finished_during,
        finished_during_load_per_s=round(finished_during / load_s, 1) if load_s else 0.0,
        backlog_at_stop=len(loaded) - finished_during,
        drain_s=drain_s,
        drain_seen_s=None if drain_seen_s is None else round(drain_seen_s, 3),
        queued_to_finished_ms=percentiles_ms(lags),
        complete=complete and not missing and not unfinished,
        missing=missing,
        unfinished=unfinished,
        warm_up=len(warmed),
        server_cpu_load_percent=percent(load_cpu["server"]),
        client_cpu_load_percent=percent(load_cpu["client"]),
        postgres_cpu_load_percent=percent(load_cpu["postgres"]),
        other_cpu_load_percent=percent(load_cpu["other"]),
        server_cpu_drain_s=round(drain_cpu["server"], 2),
        drain_wall_s=round(drain_wall, 2),
        peak_rss_mib=round(peak_kib / 1024, 1),
        postgres_sessions=dict(sorted(waits.items(), key=lambda item: -item[1])),
        progress=progress,
    )


async def _measure_with_probe(
    args: argparse.Namespace, server: Server, org: Organization, url: str, db_path: Path | None
) -> Outcome:
    probe: Probe
    if db_path is not None:
        probe = SqliteProbe(db_path)
        label = "sqlite"
    else:
        probe = await PostgresProbe.open(url)
        label = "postgresql"
    try:
        return await measure(args, server, org, probe, label)
    finally:
        await probe.close()


def run_once(
    args: argparse.Namespace, url: str, db_path: Path | None, work_dir: Path
) -> tuple[Outcome | None, str, str | None, int | None]:
    """Set up, start the server, measure; (outcome, server log, failure, server exit code)."""
    env = {**os.environ, **args.server_env, "TAMBULI_DATABASE_URL": url}
    # The helper's balance (1,000,000 USD) pays for over two million top-ups of 25 PHP.
    org = create_organization(env, work_dir)
    outcome: Outcome | None = None
    failure: str | None = None
    server: Server | None = None
    serve_args = ("--no-workers",) if args.worker_process else ()
    try:
        with (
            run_server(work_dir, env, *serve_args) as server,
            run_worker_process(args.worker_process, work_dir, env),
        ):
            outcome = asyncio.run(_measure_with_probe(args, server, org, url, db_path))
    except BenchError as exc:
        failure = str(exc)
    log = "" if server is None else server.read_log()
    if outcome is not None:
        found = COMMITS_MARKER.findall(log)
        if found:
            outcome.write_transactions = int(found[-1])
            if outcome.topups:
                outcome.writes_per_topup = round(outcome.write_transactions / outcome.topups, 2)
    return outcome, log, failure, None if server is None else server.exit_code


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.2f} s"


def _ms(latency: dict[str, float]) -> str:
    return " / ".join(f"{latency[k]:,.1f}" for k in ("p50", "p90", "p99", "max"))


def format_report(outcome: Outcome) -> str:
    """The results as Markdown."""
    o = outcome
    full = sorted(o.accepted_per_second)
    spread = f"{full[0]:,} / {full[len(full) // 2]:,} / {full[-1]:,}" if full else "n/a (under 1 s)"
    statuses = ", ".join(f"{k}: {v:,}" for k, v in o.statuses.items()) or "none"
    errors = ", ".join(f"{k}: {v:,}" for k, v in o.socket_errors.items()) or "none"
    writes = "n/a" if o.writes_per_topup is None else f"{o.writes_per_topup:g}"
    lines = [
        "| measure | value |",
        "| --- | ---: |",
        f"| load | {o.concurrency} connections for {o.seconds:g} s "
        f"(first request → last answer {o.load_s:,.2f} s) |",
        f"| requests sent / accepted (202) | {o.sent:,} / {o.accepted:,} |",
        f"| **accepted/s** | **{o.accepted_per_s:,.0f}** |",
        f"| accepted per whole second: min / median / max | {spread} |",
        f"| answers by status | {statuses} |",
        f"| non-202 answers / socket errors | {o.non_202:,} / {errors} |",
        f"| accept latency p50 / p90 / p99 / max | {_ms(o.latency_ms)} ms |",
        f"| finished during the load | {o.finished_during_load:,} "
        f"({o.finished_during_load_per_s:,.0f}/s) |",
        f"| backlog at load stop (accepted, not finished) | {o.backlog_at_stop:,} |",
        f"| **drain** (load stop → last top-up finished) | **{_seconds(o.drain_s)}** |",
        f"| drain as the poll saw it | {_seconds(o.drain_seen_s)} |",
        f"| queued → finished p50 / p90 / p99 / max | {_ms(o.queued_to_finished_ms)} ms |",
        f"| top-ups by status | "
        f"{', '.join(f'{k} {v:,}' for k, v in o.by_status.items()) or 'none'} "
        f"({o.warm_up} warm-up top-ups included) |",
        f"| lost: accepted but missing / never finished | {o.missing:,} / {o.unfinished:,} |",
        f"| server CPU during the load | {o.server_cpu_load_percent:.0f} % (of 100 % per core) |",
        f"| CPU of this client / `postgres` / everything else during the load | "
        f"{o.client_cpu_load_percent:.0f} % / {o.postgres_cpu_load_percent:.0f} % / "
        f"{o.other_cpu_load_percent:.0f} % |",
        f"| server CPU after the load | {o.server_cpu_drain_s:,.2f} s in {o.drain_wall_s:,.2f} s |",
        f"| server database write transactions per top-up | {writes} |",
        f"| server peak RSS | {o.peak_rss_mib:g} MiB |",
    ]
    if o.postgres_sessions:
        total = sum(o.postgres_sessions.values())
        shares = ", ".join(
            f"{event} {100 * n / total:.0f} %"
            for event, n in list(o.postgres_sessions.items())[:WAIT_EVENTS_SHOWN]
        )
        lines.append(
            f"| server's PostgreSQL sessions during the load (sampled each second) | {shares} |"
        )
    return "\n".join(lines)


def evaluate_targets(outcome: Outcome) -> list[dict[str, Any]]:
    """The issue's two targets against this run."""
    full_length = outcome.concurrency == TARGET_CONCURRENCY and outcome.seconds >= DEFAULT_SECONDS
    note = "" if full_length else f" (this run: c{outcome.concurrency}, {outcome.seconds:g} s)"
    clean = outcome.non_202 == 0 and not outcome.socket_errors
    return [
        {
            "target": f"≥ {TARGET_ACCEPTED_PER_S:,.0f} accepted/s at c{TARGET_CONCURRENCY} "
            f"for {DEFAULT_SECONDS:g} s{note}",
            "value": outcome.accepted_per_s,
            "met": outcome.accepted_per_s >= TARGET_ACCEPTED_PER_S and clean,
        },
        {
            "target": f"every top-up finished ≤ {TARGET_DRAIN_S:g} s after the load stops",
            "value": outcome.drain_s,
            "met": outcome.complete
            and outcome.drain_s is not None
            and outcome.drain_s <= TARGET_DRAIN_S,
        },
    ]


def find_problems(outcome: Outcome) -> list[str]:
    """What makes the run fail, whatever its speed."""
    problems: list[str] = []
    if outcome.non_202:
        kinds = {k: v for k, v in outcome.statuses.items() if k != "202"}
        first = "; ".join(outcome.error_bodies[:KEPT_ERROR_BODIES])
        problems.append(f"{outcome.non_202:,} answers were not 202: {kinds}; first: {first}")
    if outcome.socket_errors:
        problems.append(f"socket errors: {outcome.socket_errors}")
    if outcome.missing:
        problems.append(f"{outcome.missing:,} accepted top-ups are not in the database")
    if outcome.unfinished:
        problems.append(f"{outcome.unfinished:,} top-ups never finished")
    if outcome.accepted != outcome.statuses.get("202", 0):
        problems.append("some 202 answers carried no queued top-up ID (see the JSON)")
    failed = outcome.by_status.get("failed", 0)
    if failed:
        problems.append(
            f"{failed:,} top-ups failed, although the simulator accepts every number used"
        )
    return problems


def run_benchmark(args: argparse.Namespace) -> int:
    """Run once and print the report; returns the exit code."""
    machine = describe_machine(
        f"asyncio HTTP/1.1 client in Python ({args.concurrency} keep-alive connections)"
    )
    database = "sqlite" if args.scratch is None else "postgresql"
    overrides = ", ".join(f"{k}={v}" for k, v in args.server_env.items()) or "none"
    print("## Machine\n")
    print(format_machine(machine))
    print(f"- Database: {database}; server settings changed: {overrides}", flush=True)
    idle_busy = measure_busy_cpu_percent(1.0)
    machine["busy_cpu_percent_before_start"] = round(idle_busy, 1)
    if idle_busy > OTHER_CPU_WARNING_PERCENT:
        print(
            f"\nwarning: the machine is already {idle_busy:.0f}% busy before the server starts; "
            "the numbers may be lower than usual"
        )
    heading = f"\nasync top-ups at c{args.concurrency} for {args.seconds:g}s …"
    with tempfile.TemporaryDirectory(prefix="tambuli-topups-") as tmp:
        work_dir = Path(tmp)
        if args.scratch is None:
            db_path: Path | None = work_dir / "bench.db"
            url = f"sqlite:///{db_path}"
            print(heading, flush=True)
            outcome, log, failure, exit_code = run_once(args, url, db_path, work_dir)
        else:
            with scratch_database(args.scratch) as url:
                settings = asyncio.run(describe_postgres(url))
                machine["postgresql"] = settings
                print(
                    "- PostgreSQL (same machine): "
                    + ", ".join(f"{k} {v}" for k, v in settings.items())
                )
                if settings["autovacuum"] != "on":
                    print(
                        "  warning: autovacuum is off on this server; Tambuli expects it "
                        "(docs/configuration.md), and without it no table is analysed either"
                    )
                print(heading, flush=True)
                outcome, log, failure, exit_code = run_once(args, url, None, work_dir)
    if args.server_log:
        args.server_log.parent.mkdir(parents=True, exist_ok=True)
        args.server_log.write_text(log)
    problems: list[str] = []
    if failure:
        problems.append(failure)
    entries = find_server_errors(log)
    crashes = [e for e in entries if not is_cancellation(e)]
    if crashes:
        problems.append(f"the server logged errors: {summarise_server_errors(crashes)}")
    if exit_code not in (0, None):
        problems.append(f"the server exited with code {exit_code}")
    checks: list[dict[str, Any]] = []
    if outcome is not None:
        print("\n## Results\n")
        print(format_report(outcome))
        if outcome.other_cpu_load_percent > OTHER_CPU_WARNING_PERCENT:
            print(
                f"\nwarning: other processes used {outcome.other_cpu_load_percent:.0f}% CPU "
                "during the load; rerun on a quiet machine"
            )
        checks = evaluate_targets(outcome)
        print()
        for check in checks:
            print(f"Target {check['target']}: {'met' if check['met'] else 'MISSED'}")
        problems += find_problems(outcome)
    for problem in problems:
        print(f"\nPROBLEM: {problem}")
    report: dict[str, Any] = {
        "machine": machine,
        "config": {
            "database": database,
            "seconds": args.seconds,
            "concurrency": args.concurrency,
            "max_amount": MAX_AMOUNT,
            "request_timeout_s": REQUEST_TIMEOUT_S,
            "server_env": args.server_env,
        },
        "result": None if outcome is None else asdict(outcome),
        "targets": checks,
        "problems": problems,
        "server_exit_code": exit_code,
    }
    summary = {k: v for k, v in report.items() if k != "result"}
    if outcome is not None:
        summary["result"] = {k: v for k, v in asdict(outcome).items() if k != "progress"}
    print("\n## JSON\n")
    print(json.dumps(summary, indent=2))
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nwrote {args.json_out}")
    if problems:
        return 1
    if args.check_targets and not all(check["met"] for check in checks):
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse arguments, run, turn setup failures into a message."""
    args = parse_args(argv)
    try:
        return run_benchmark(args)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
