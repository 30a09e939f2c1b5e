"""Campaign blast load: subscribe many contacts to a one-step blast, measure until hand-off.

Starts a fresh `tambuli serve` (its delivery workers and the simulator, default settings) on a
new SQLite file, or on a scratch PostgreSQL database it creates and drops again, creates an
organization with a default sender ID, creates and launches a one-step blast campaign, then
subscribes the contacts through the legacy batch endpoint (POST /api/v1/engagements/{id}/
contacts/ with a JSON list of {"fullPhoneNumber": …}, `--batch` contacts per request, up to
`--concurrency` requests in flight). It then reads the database (read-only) until every
message of the campaign has been handed to the simulator and reports:

- subscriptions/s accepted: contacts / (last 201 - first request sent);
- msg/s delivered: messages handed off / (last hand-off - first hand-off);
- end to end: first request sent → last hand-off;
- when runs were created, steps fired (messages queued) and messages handed off;
- the server's peak RSS and CPU.

    .venv/bin/python -m bench.campaign_load [--contacts 100000] [--batch 1000]
        [--concurrency 2] [--quick]
        [--database-url postgresql://postgres@127.0.0.1:5432/tambuli_bench_campaigns]
        [--server-env KEY=VALUE ...] [--timeout S] [--json-out FILE] [--server-log FILE]

Load and database traffic go only to 127.0.0.1. The issue's targets (one process, SQLite, two
cores): >= 2,000 subscriptions/s accepted and >= 1,000 msg/s delivered; the same is reported
on PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import asyncpg
import httpx
from sqlalchemy.engine import URL, make_url

from bench.api_load import (
    HOST,
    BenchError,
    Organization,
    RssSampler,
    Server,
    create_organization,
    describe_machine,
    find_server_errors,
    format_machine,
    is_cancellation,
    read_machine_busy_cpu_seconds,
    read_proc_status_kib,
    read_process_cpu_seconds,
    request_json,
    run_server,
    summarise_server_errors,
    tambuli_command,
)

DEFAULT_CONTACTS = 100_000
QUICK_CONTACTS = 10_000
DEFAULT_BATCH = 1_000
DEFAULT_CONCURRENCY = 2
# After the last 201, how long delivery may take before the run is given up.
DEFAULT_TIMEOUT_S = 900.0
# Give up earlier when nothing at all moved for this long.
STALL_S = 120.0
# Counting rows costs the database a little; the reported times come from the rows themselves.
POLL_INTERVAL_S = 2.0
REQUEST_TIMEOUT_S = 300.0
SENDER_ID = "Tambuli"
MESSAGE = "Bench blast: your appointment is tomorrow at 9:00."
TARGET_SUBSCRIPTIONS_PER_S = 2_000.0
TARGET_DELIVERED_PER_S = 1_000.0
# The scratch database on PostgreSQL must carry this prefix: it is dropped and created again.
SCRATCH_PREFIX = "tambuli_bench"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
# The simulator's special behaviours are chosen by these last four digits.
SIMULATOR_ENDINGS = range(1, 8)
PHONE_PREFIXES = ("63917", "63918")
PHONE_DIGITS = 7


@dataclass
class Snapshot:
    """Row counts at one moment, seconds after the first request."""

    at_s: float
    runs: int
    messages: int
    accepted: int
    failed: int


@dataclass
class Timeline:
    """First and last moment of one kind of event, in seconds after the first request."""

    count: int
    first_s: float | None
    last_s: float | None

    def rate(self) -> float:
        """Events per second between the first and the last one."""
        if self.first_s is None or self.last_s is None or self.last_s <= self.first_s:
            return 0.0
        return self.count / (self.last_s - self.first_s)


@dataclass
class Phase:
    """What happened between two moments of the run (seconds after the first request)."""

    name: str
    start_s: float
    end_s: float
    runs_created: int
    steps_fired: int
    handed_off: int

    def per_s(self, count: int) -> float:
        """A count of this phase per second."""
        return count / (self.end_s - self.start_s) if self.end_s > self.start_s else 0.0


@dataclass
class Outcome:
    """Everything one run measured."""

    database: str
    contacts: int
    batch: int
    concurrency: int
    requests: int
    failed_requests: int
    subscribed: int
    subscribe_s: float
    subscriptions_per_s: float
    request_p50_s: float
    request_max_s: float
    runs: Timeline
    fired: Timeline
    handed: Timeline
    delivered_per_s: float
    end_to_end_s: float | None
    messages: int
    accepted: int
    failed: int
    runs_by_status: dict[str, int]
    complete: bool
    phases: list[Phase]
    server_cpu_s: float
    client_cpu_s: float
    # Every `postgres` process on the machine (0 on SQLite).
    postgres_cpu_s: float
    # Busy CPU of everything else on the machine.
    other_cpu_s: float
    wall_s: float
    peak_rss_mib: float
    progress: list[Snapshot] = field(default_factory=list)


class Probe(Protocol):
    """Read-only queries against the server's database."""

    async def snapshot(self, campaign_id: int) -> tuple[int, int, int, int]:
        """(runs, messages, accepted, failed) of the campaign so far."""
        ...

    async def times(self, campaign_id: int) -> dict[str, list[datetime]]:
        """Creation of runs, creation and hand-off of messages, as aware UTC datetimes."""
        ...

    async def runs_by_status(self, campaign_id: int) -> dict[str, int]:
        """How many runs of the campaign are in each status."""
        ...

    async def close(self) -> None:
        """Let go of the connection."""
        ...


SNAPSHOT_RUNS = "SELECT count(*) FROM campaign_runs WHERE campaign_id = {p}"
SNAPSHOT_MESSAGES = (
    "SELECT count(*), "
    "coalesce(sum(CASE WHEN status = 'accepted' AND handed_at IS NOT NULL THEN 1 ELSE 0 END), 0), "
    "coalesce(sum(CASE WHEN status = 'failed' THEN 1 ELSE 0 END), 0) "
    "FROM messages WHERE campaign_run_id IS NOT NULL AND direction = 'egress'"
)
TIMES_RUNS = "SELECT created_at FROM campaign_runs WHERE campaign_id = {p}"
TIMES_MESSAGES = (
    "SELECT created_at, handed_at, status FROM messages "
    "WHERE campaign_run_id IS NOT NULL AND direction = 'egress'"
)
RUNS_BY_STATUS = (
    "SELECT status, count(*) FROM campaign_runs WHERE campaign_id = {p} GROUP BY status"
)


def _as_utc(value: Any) -> datetime:
    """A stored timestamp as an aware UTC datetime (SQLite keeps naive UTC text)."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    assert isinstance(moment, datetime)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _split_times(
    runs: Sequence[Any], messages: Sequence[Sequence[Any]]
) -> dict[str, list[datetime]]:
    handed = [_as_utc(row[1]) for row in messages if row[1] is not None and row[2] == "accepted"]
    return {
        "runs": [_as_utc(row[0]) for row in runs],
        "fired": [_as_utc(row[0]) for row in messages],
        "handed": handed,
    }


class SqliteProbe:
    """Reads the SQLite file on its own read-only connection, off the event loop."""

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
        )

    def _all(self, sql: str, *params: Any) -> list[Any]:
        return self._conn.execute(sql, params).fetchall()

    async def snapshot(self, campaign_id: int) -> tuple[int, int, int, int]:
        """(runs, messages, accepted, failed) of the campaign so far."""
        [(runs,)] = await asyncio.to_thread(self._all, SNAPSHOT_RUNS.format(p="?"), campaign_id)
        [(total, accepted, failed)] = await asyncio.to_thread(self._all, SNAPSHOT_MESSAGES)
        return int(runs), int(total), int(accepted), int(failed)

    async def times(self, campaign_id: int) -> dict[str, list[datetime]]:
        """Creation of runs, creation and hand-off of messages."""
        runs = await asyncio.to_thread(self._all, TIMES_RUNS.format(p="?"), campaign_id)
        messages = await asyncio.to_thread(self._all, TIMES_MESSAGES)
        return _split_times(runs, messages)

    async def runs_by_status(self, campaign_id: int) -> dict[str, int]:
        """How many runs of the campaign are in each status."""
        rows = await asyncio.to_thread(self._all, RUNS_BY_STATUS.format(p="?"), campaign_id)
        return {str(status): int(count) for status, count in rows}

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

    async def snapshot(self, campaign_id: int) -> tuple[int, int, int, int]:
        """(runs, messages, accepted, failed) of the campaign so far."""
        runs = await self._conn.fetchval(SNAPSHOT_RUNS.format(p="$1"), campaign_id)
        row = await self._conn.fetchrow(SNAPSHOT_MESSAGES)
        return int(runs), int(row[0]), int(row[1]), int(row[2])

    async def times(self, campaign_id: int) -> dict[str, list[datetime]]:
        """Creation of runs, creation and hand-off of messages."""
        runs = await self._conn.fetch(TIMES_RUNS.format(p="$1"), campaign_id)
        messages = await self._conn.fetch(TIMES_MESSAGES)
        return _split_times(runs, messages)

    async def runs_by_status(self, campaign_id: int) -> dict[str, int]:
        """How many runs of the campaign are in each status."""
        rows = await self._conn.fetch(RUNS_BY_STATUS.format(p="$1"), campaign_id)
        return {str(row[0]): int(row[1]) for row in rows}

    async def close(self) -> None:
        """Close the connection."""
        await self._conn.close()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--contacts",
        type=int,
        default=None,
        help=f"contacts to subscribe (default {DEFAULT_CONTACTS:,}, {QUICK_CONTACTS:,} with "
        "--quick)",
    )
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_CONTACTS:,} contacts")
    parser.add_argument(
        "--batch", type=int, default=DEFAULT_BATCH, help="contacts per request (default 1000)"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        help=f"batch requests in flight (default {DEFAULT_CONCURRENCY})",
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
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        help=f"seconds after the last 201 to wait for delivery (default {DEFAULT_TIMEOUT_S:g})",
    )
    parser.add_argument("--json-out", type=Path, help="also write the results as JSON here")
    parser.add_argument("--server-log", type=Path, help="keep the server's log in this file")
    args = parser.parse_args(argv)
    if args.contacts is None:
        args.contacts = QUICK_CONTACTS if args.quick else DEFAULT_CONTACTS
    if not 1 <= args.contacts <= 1_000_000:
        parser.error("--contacts must be between 1 and 1,000,000")
    if not 1 <= args.batch <= 5_000:
        parser.error("--batch must be between 1 and 5,000 (the endpoint's limit)")
    if not 1 <= args.concurrency <= 64:
        parser.error("--concurrency must be between 1 and 64")
    env: dict[str, str] = {}
    for item in args.server_env:
        key, sep, value = item.partition("=")
        if not sep or not key.startswith("TAMBULI_") or key == "TAMBULI_DATABASE_URL":
            parser.error(f"--server-env takes TAMBULI_KEY=VALUE (not the database URL): {item!r}")
        env[key] = value
    args.server_env = env
    if args.database_url is not None:
        try:
            args.scratch = check_scratch_url(args.database_url)
        except BenchError as exc:
            parser.error(str(exc))
    else:
        args.scratch = None
    return args


def check_scratch_url(text: str) -> URL:
    """A local PostgreSQL URL whose database may be dropped and created again."""
    url = make_url(text)
    if url.get_backend_name() != "postgresql":
        raise BenchError("--database-url must be a postgresql:// URL")
    if url.host not in LOCAL_HOSTS:
        raise BenchError(f"--database-url must point at 127.0.0.1, not {url.host!r}")
    name = url.database or ""
    if not name.startswith(SCRATCH_PREFIX) or not name.replace("_", "").isalnum():
        raise BenchError(
            f"the scratch database is dropped and created again, so its name must start with "
            f"{SCRATCH_PREFIX!r} (letters, digits, _), got {name!r}"
        )
    return url


def phone_numbers(count: int) -> list[str]:
    """Distinct Philippine mobile numbers, none ending in a simulator behaviour (0001 to 0007)."""
    numbers: list[str] = []
    for prefix in PHONE_PREFIXES:
        for sequence in range(10**PHONE_DIGITS):
            if len(numbers) == count:
                return numbers
            if sequence % 10_000 in SIMULATOR_ENDINGS:
                continue
            numbers.append(f"{prefix}{sequence:0{PHONE_DIGITS}d}")
    if len(numbers) < count:
        raise BenchError(f"cannot make {count:,} distinct numbers")
    return numbers


def batch_bodies(numbers: Sequence[str], batch: int) -> list[bytes]:
    """The request bodies: JSON lists of {"fullPhoneNumber": …}."""
    return [
        json.dumps([{"fullPhoneNumber": n} for n in numbers[i : i + batch]]).encode()
        for i in range(0, len(numbers), batch)
    ]


async def _admin_execute(url: URL, *statements: str) -> None:
    admin = url.set(database="postgres").render_as_string(hide_password=False)
    conn = await asyncpg.connect(admin)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


POSTGRES_SETTINGS = ("server_version", "autovacuum", "shared_buffers", "synchronous_commit")


async def describe_postgres(url: str) -> dict[str, str]:
    """The server's version and the settings that move these numbers."""
    conn = await asyncpg.connect(url)
    try:
        return {name: str(await conn.fetchval(f"SHOW {name}")) for name in POSTGRES_SETTINGS}
    finally:
        await conn.close()


@contextmanager
def scratch_database(url: URL) -> Iterator[str]:
    """Drop, create and finally drop the scratch database; yields its plain URL."""
    name = url.database
    assert name is not None and name.startswith(SCRATCH_PREFIX)
    drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    asyncio.run(_admin_execute(url, drop, f'CREATE DATABASE "{name}"'))
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin_execute(url, drop))


def set_sender_id(env: dict[str, str], work_dir: Path, org: Organization) -> None:
    """Give the organization its default sender ID with `tambuli org set`."""
    made = subprocess.run(
        tambuli_command("org", "set", "--org", str(org.org_id), "--sender-id", SENDER_ID),
        env=env,
        cwd=work_dir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if made.returncode != 0:
        raise BenchError(f"tambuli org set failed:\n{made.stdout}{made.stderr}")


def create_blast(port: int, org: Organization) -> int:
    """Create and launch a one-step blast; returns its ID."""
    campaigns = f"/v1/organizations/{org.org_id}/campaigns/"
    definition = {"name": "Bench blast", "kind": "blast", "steps": [{"message": MESSAGE}]}
    status, body = request_json(port, "POST", campaigns, org.token, definition)
    if status != 201:
        raise BenchError(f"creating the campaign answered {status}: {body}")
    campaign_id = int(body["campaignId"])
    status, body = request_json(port, "POST", f"{campaigns}{campaign_id}/launch", org.token)
    if status != 200:
        raise BenchError(f"launching the campaign answered {status}: {body}")
    return campaign_id


@dataclass
class SendResult:
    """What the batch requests got back."""

    first_sent: float
    last_201: float
    subscribed: int
    failures: list[str]
    latencies: list[float]


async def send_batches(
    port: int, org: Organization, campaign_id: int, bodies: Sequence[bytes], concurrency: int
) -> SendResult:
    """POST every body, at most `concurrency` in flight, each on a keep-alive connection."""
    path = f"/api/v1/engagements/{campaign_id}/contacts/"
    headers = {"Authorization": f"Token {org.token}", "Content-Type": "application/json"}
    pending = list(reversed(bodies))
    result = SendResult(0.0, 0.0, 0, [], [])
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=f"http://{HOST}:{port}", limits=limits, timeout=REQUEST_TIMEOUT_S
    ) as client:

        async def worker() -> None:
            while pending:
                body = pending.pop()
                started = time.monotonic()
                if not result.first_sent:
                    result.first_sent = started
                try:
                    answer = await client.post(path, content=body, headers=headers)
                except httpx.HTTPError as exc:
                    result.failures.append(f"{type(exc).__name__}: {exc}")
                    continue
                finished = time.monotonic()
                result.latencies.append(finished - started)
                if answer.status_code == 201:
                    result.subscribed += len(answer.json()["data"])
                    result.last_201 = max(result.last_201, finished)
                else:
                    result.failures.append(f"{answer.status_code}: {answer.text[:300]}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return result


def read_own_cpu_seconds() -> float:
    """User plus system CPU seconds of this process (the client and its probe)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def read_postgres_cpu_seconds() -> dict[int, float]:
    """CPU seconds of every process named `postgres`, by PID (its backends and helpers)."""
    used: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name, _, rest = text.partition(" (")[2].rpartition(") ")
        if name != "postgres":
            continue
        fields = rest.split()
        used[int(stat.parent.name)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return used


def split_phases(
    times: dict[str, list[datetime]], origin: datetime, subscribe_s: float
) -> list[Phase]:
    """Subscribing, then firing the remaining steps, then handing off the remaining messages."""
    seconds = {
        kind: sorted((m - origin).total_seconds() for m in moments)
        for kind, moments in times.items()
    }
    fired_end = max(seconds["fired"], default=subscribe_s)
    handed_end = max(seconds["handed"], default=fired_end)
    bounds = [
        ("subscribing (first request → last 201)", 0.0, subscribe_s),
        ("firing the rest (last 201 → last step fired)", subscribe_s, fired_end),
        ("handing off the rest (last step fired → last hand-off)", fired_end, handed_end),
    ]
    phases = []
    for index, (name, start, end) in enumerate(bounds):
        end = max(start, end)
        # The first phase also counts anything stamped a little before the first request.
        low = start if index else float("-inf")
        phases.append(
            Phase(
                name=name,
                start_s=round(start, 3),
                end_s=round(end, 3),
                runs_created=_count_within(seconds["runs"], low, end),
                steps_fired=_count_within(seconds["fired"], low, end),
                handed_off=_count_within(seconds["handed"], low, end),
            )
        )
    return phases


def _count_within(ordered: list[float], low: float, high: float) -> int:
    """How many of the sorted values are in (low, high]."""
    return bisect.bisect_right(ordered, high) - bisect.bisect_right(ordered, low)


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else 0.0


def _timeline(moments: Sequence[datetime], start: datetime) -> Timeline:
    if not moments:
        return Timeline(0, None, None)
    return Timeline(
        count=len(moments),
        first_s=round((min(moments) - start).total_seconds(), 3),
        last_s=round((max(moments) - start).total_seconds(), 3),
    )


async def watch_delivery(
    probe: Probe,
    campaign_id: int,
    expected: list[int],
    sending: asyncio.Task[SendResult],
    started: float,
    timeout_s: float,
    progress: list[Snapshot],
) -> bool:
    """Sample the counts until every expected message is handed off (or failed, or too late).

    `expected` holds the number of messages to wait for; it is filled in once sending ended.
    """
    last_change = time.monotonic()
    previous: tuple[int, int, int, int] | None = None
    printed = 0.0
    while True:
        counts = await probe.snapshot(campaign_id)
        now = time.monotonic()
        progress.append(Snapshot(round(now - started, 2), *counts))
        if counts != previous:
            previous, last_change = counts, now
        runs, messages, accepted, failed = counts
        if now - printed >= 5.0:
            printed = now
            print(
                f"  {now - started:6.1f}s  runs {runs:>8,}  messages {messages:>8,}  "
                f"handed {accepted:>8,}  failed {failed:,}",
                flush=True,
            )
        if sending.done():
            target = expected[0]
            if accepted + failed >= target and messages >= target:
                return failed == 0
            done_at = sending.result().last_201 or now
            if now - done_at > timeout_s:
                print(f"  gave up: not all handed off {timeout_s:g}s after the last 201")
                return False
            if now - last_change > STALL_S:
                print(f"  gave up: nothing moved for {STALL_S:g}s")
                return False
        await asyncio.sleep(POLL_INTERVAL_S)


async def measure(
    args: argparse.Namespace, server: Server, org: Organization, probe: Probe, label: str
) -> Outcome:
    """Create the blast, subscribe everyone and wait for the hand-offs."""
    campaign_id = create_blast(server.port, org)
    bodies = batch_bodies(phone_numbers(args.contacts), args.batch)
    sampler = RssSampler(server.process.pid)
    sampler.start()
    progress: list[Snapshot] = []
    cpu_before = read_process_cpu_seconds(server.process.pid)
    client_before = read_own_cpu_seconds()
    postgres_before = read_postgres_cpu_seconds()
    busy_before = read_machine_busy_cpu_seconds()
    wall_start = datetime.now(UTC)
    started = time.monotonic()
    try:
        sending = asyncio.create_task(
            send_batches(server.port, org, campaign_id, bodies, args.concurrency)
        )
        expected = [0]
        watcher = asyncio.create_task(
            watch_delivery(probe, campaign_id, expected, sending, started, args.timeout, progress)
        )
        sent = await sending
        expected[0] = sent.subscribed
        print(
            f"  subscribed {sent.subscribed:,} in {sent.last_201 - sent.first_sent:.2f}s "
            f"({len(sent.failures)} failed requests); waiting for the hand-offs",
            flush=True,
        )
        complete = await watcher
    finally:
        sampler.sample_rss()
        sampler.stop()
    wall_s = time.monotonic() - started
    server_cpu = read_process_cpu_seconds(server.process.pid) - cpu_before
    client_cpu = read_own_cpu_seconds() - client_before
    postgres_cpu = sum(
        used - postgres_before.get(pid, 0.0) for pid, used in read_postgres_cpu_seconds().items()
    )
    busy = read_machine_busy_cpu_seconds() - busy_before
    peak_kib = max(sampler.peak_kib, read_proc_status_kib(server.process.pid, "VmHWM") or 0)
    # The first request's wall-clock time: the server stamps rows with the same clock.
    origin = wall_start.timestamp() + (sent.first_sent - started)
    origin_at = datetime.fromtimestamp(origin, UTC)
    times = await probe.times(campaign_id)
    handed = _timeline(times["handed"], origin_at)
    fired = _timeline(times["fired"], origin_at)
    subscribe_s = sent.last_201 - sent.first_sent if sent.last_201 else 0.0
    phases = split_phases(times, origin_at, subscribe_s)
    return Outcome(
        database=label,
        contacts=args.contacts,
        batch=args.batch,
        concurrency=args.concurrency,
        requests=len(bodies),
        failed_requests=len(sent.failures),
        subscribed=sent.subscribed,
        subscribe_s=round(subscribe_s, 3),
        subscriptions_per_s=round(sent.subscribed / subscribe_s, 1) if subscribe_s else 0.0,
        request_p50_s=round(_median(sent.latencies), 3),
        request_max_s=round(max(sent.latencies, default=0.0), 3),
        runs=_timeline(times["runs"], origin_at),
        fired=fired,
        handed=handed,
        delivered_per_s=round(handed.rate(), 1),
        end_to_end_s=handed.last_s,
        messages=fired.count,
        accepted=handed.count,
        failed=progress[-1].failed if progress else 0,
        runs_by_status=await probe.runs_by_status(campaign_id),
        complete=complete and not sent.failures,
        phases=phases,
        server_cpu_s=round(server_cpu, 1),
        client_cpu_s=round(client_cpu, 1),
        postgres_cpu_s=round(postgres_cpu, 1),
        other_cpu_s=round(max(0.0, busy - server_cpu - client_cpu - postgres_cpu), 1),
        wall_s=round(wall_s, 1),
        peak_rss_mib=round(peak_kib / 1024, 1),
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
    org = create_organization(env, work_dir)
    set_sender_id(env, work_dir, org)
    outcome: Outcome | None = None
    failure: str | None = None
    server: Server | None = None
    try:
        with run_server(work_dir, env) as server:
            outcome = asyncio.run(_measure_with_probe(args, server, org, url, db_path))
    except BenchError as exc:
        failure = str(exc)
    log = "" if server is None else server.read_log()
    return outcome, log, failure, None if server is None else server.exit_code


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.2f}"


def format_report(outcome: Outcome) -> str:
    """The results as Markdown."""
    o = outcome
    lines = [
        "| measure | value |",
        "| --- | ---: |",
        f"| contacts subscribed | {o.subscribed:,} of {o.contacts:,} "
        f"({o.requests} requests of {o.batch:,}, {o.concurrency} in flight) |",
        f"| failed requests | {o.failed_requests} |",
        f"| subscribe window (first request → last 201) | {o.subscribe_s:,.2f} s |",
        f"| **subscriptions/s accepted** | **{o.subscriptions_per_s:,.0f}** |",
        f"| request time p50 / max | {o.request_p50_s:.2f} s / {o.request_max_s:.2f} s |",
        f"| runs created (first → last) | {_seconds(o.runs.first_s)} → "
        f"{_seconds(o.runs.last_s)} s |",
        f"| steps fired = messages queued (first → last) | {_seconds(o.fired.first_s)} → "
        f"{_seconds(o.fired.last_s)} s ({o.fired.rate():,.0f}/s) |",
        f"| messages handed off (first → last) | {_seconds(o.handed.first_s)} → "
        f"{_seconds(o.handed.last_s)} s |",
        f"| **msg/s delivered** (handed / hand-off window) | **{o.delivered_per_s:,.0f}** |",
        f"| end to end (first request → last hand-off) | {_seconds(o.end_to_end_s)} s |",
        f"| messages handed / queued / failed | {o.accepted:,} / {o.messages:,} / {o.failed:,} |",
        f"| runs by status | {', '.join(f'{k} {v:,}' for k, v in sorted(o.runs_by_status.items()))}"
        " |",
        f"| server CPU over the run | {o.server_cpu_s:,.1f} s of {o.wall_s:,.1f} s wall "
        f"({100 * o.server_cpu_s / max(o.wall_s, 0.001):.0f} %) |",
        f"| CPU of this client / of `postgres` processes / of everything else | "
        f"{o.client_cpu_s:,.1f} s / {o.postgres_cpu_s:,.1f} s / {o.other_cpu_s:,.1f} s |",
        f"| server peak RSS | {o.peak_rss_mib:g} MiB |",
        "",
        "| phase | seconds | runs created/s | steps fired/s | handed off/s |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for phase in o.phases:
        lines.append(
            f"| {phase.name} | {phase.start_s:,.1f} → {phase.end_s:,.1f} "
            f"| {phase.per_s(phase.runs_created):,.0f} | {phase.per_s(phase.steps_fired):,.0f} "
            f"| {phase.per_s(phase.handed_off):,.0f} |"
        )
    return "\n".join(lines)


def evaluate_targets(outcome: Outcome) -> list[dict[str, Any]]:
    """The issue's two targets against this run."""
    return [
        {
            "target": f"≥ {TARGET_SUBSCRIPTIONS_PER_S:,.0f} subscriptions/s accepted",
            "value": outcome.subscriptions_per_s,
            "met": outcome.subscriptions_per_s >= TARGET_SUBSCRIPTIONS_PER_S
            and outcome.failed_requests == 0,
        },
        {
            "target": f"≥ {TARGET_DELIVERED_PER_S:,.0f} msg/s delivered",
            "value": outcome.delivered_per_s,
            "met": outcome.delivered_per_s >= TARGET_DELIVERED_PER_S and outcome.complete,
        },
    ]


def run_benchmark(args: argparse.Namespace) -> int:
    """Run once and print the report; returns the exit code."""
    machine = describe_machine(
        f"httpx {httpx.__version__} ({args.concurrency} batch requests in flight)"
    )
    problems: list[str] = []
    database = "sqlite" if args.scratch is None else "postgresql"
    overrides = ", ".join(f"{k}={v}" for k, v in args.server_env.items()) or "none"
    print("## Machine\n")
    print(format_machine(machine))
    print(f"- Database: {database}; server settings changed: {overrides}", flush=True)
    with tempfile.TemporaryDirectory(prefix="tambuli-campaigns-") as tmp:
        work_dir = Path(tmp)
        if args.scratch is None:
            db_path: Path | None = work_dir / "bench.db"
            url = f"sqlite:///{db_path}"
            print(f"\n{args.contacts:,} contacts in batches of {args.batch:,} …", flush=True)
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
                print(f"\n{args.contacts:,} contacts in batches of {args.batch:,} …", flush=True)
                outcome, log, failure, exit_code = run_once(args, url, None, work_dir)
    if args.server_log:
        args.server_log.parent.mkdir(parents=True, exist_ok=True)
        args.server_log.write_text(log)
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
        checks = evaluate_targets(outcome)
        print()
        for check in checks:
            print(f"Target {check['target']}: {'met' if check['met'] else 'MISSED'}")
        if outcome.failed_requests:
            problems.append(f"{outcome.failed_requests} batch requests failed")
        if not outcome.complete:
            problems.append(
                f"not every message was handed off: {outcome.accepted:,} handed, "
                f"{outcome.failed:,} failed, {outcome.messages:,} queued of "
                f"{outcome.subscribed:,} subscribed"
            )
    for problem in problems:
        print(f"\nPROBLEM: {problem}")
    report: dict[str, Any] = {
        "machine": machine,
        "config": {
            "database": database,
            "contacts": args.contacts,
            "batch": args.batch,
            "concurrency": args.concurrency,
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
    return 1 if problems else 0


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
