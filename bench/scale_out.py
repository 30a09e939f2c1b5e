"""PostgreSQL scale-out: one `tambuli serve --no-workers` plus 1, then 2, `tambuli worker`s.

For each worker count, on a scratch PostgreSQL database it creates and drops again (the
simulator with receipts due at once, default settings otherwise):

0. wake-up: one SMS every quarter second, 40 times, to idle workers; how long from the API
   process's `200` to the message's hand-off by a worker (the workers learn of it by NOTIFY;
   their own poll comes every 5 s). With `--probe-only`, only this phase runs;
1. accept: wrk posts SMS (POST /v1/sms/phonenumber, each to a number of its own) at
   `--connections` for `--accept-seconds`, while the workers deliver them; then the queue is
   left to drain (at most `--drain-limit` seconds);
2. sustained: an open-loop client offers `--rate` SMS/s for `--duration` (request i is due at
   start + i/rate whether or not earlier answers came back); ten seconds later the database
   says how many were accepted, how many were handed off and confirmed within `--duration` of
   the first hand-off and of the first message (per second), and the end-to-end rate: receipts
   over the time from the first message made to the last receipt recorded.

    .venv/bin/python -m bench.scale_out [--workers 1,2] [--rate 1000] [--duration 30]
        [--accept-seconds 15] [--connections 64]
        [--database-url postgresql://postgres@127.0.0.1:5432/tambuli_bench_scale]
        [--json-out FILE]

Load and database traffic go only to 127.0.0.1; every phase is bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from bench.api_load import (
    BenchError,
    Organization,
    create_organization,
    describe_machine,
    find_server_errors,
    format_machine,
    is_cancellation,
    read_process_cpu_seconds,
    request_json,
    run_server,
    run_wrk,
    summarise_server_errors,
)
from bench.campaign_load import check_scratch_url, describe_postgres, scratch_database
from bench.idle_cpu import run_worker
from bench.sms_pipeline import ON_TIME_S, offer_load

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/tambuli_bench_scale"
SERVER_ENV = {"TAMBULI_SIMULATOR_RECEIPT_DELAY": "0"}
# After the offered window, how long hand-offs and receipts may still come in.
DRAIN_S = 10.0
WRK_THREADS = 2
PROBE_SENDS = 40
PROBE_PAUSE_S = 0.25


@dataclass
class ScaleResult:
    """What one worker count achieved."""

    workers: int
    wake_p50_ms: float
    wake_p90_ms: float
    wake_max_ms: float
    accept_req_per_s: float
    accept_p50_ms: float
    accept_p99_ms: float
    accept_non_2xx: int
    accept_errors: int
    accept_drain_s: float | None
    offered_per_s: float
    duration_s: float
    sent: int
    accepted: int
    handed_off_per_s: float
    delivered_per_s: float
    # Receipts over the time from the first message made to the last receipt recorded.
    end_to_end_per_s: float
    on_time_fraction: float
    receipt_p50_ms: float
    receipt_p99_ms: float
    api_cpu_percent: float
    workers_cpu_percent: list[float]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    parser.add_argument("--rate", type=float, default=1000.0, help="offered SMS/s (sustained)")
    parser.add_argument("--duration", type=float, default=30.0, help="sustained seconds")
    parser.add_argument("--accept-seconds", type=float, default=15.0, help="wrk seconds")
    parser.add_argument("--drain-limit", type=float, default=120.0, help="seconds, at most")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--probe-only", action="store_true", help="only the wake-up probe")
    parser.add_argument("--json-out", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    args.workers = [int(w) for w in args.workers.split(",") if w.strip()]
    if not args.workers or any(not 1 <= w <= 8 for w in args.workers):
        parser.error("--workers takes counts between 1 and 8")
    if not 1 <= args.duration <= 600 or not 1 <= args.accept_seconds <= 600:
        parser.error("--duration and --accept-seconds must be between 1 and 600 seconds")
    if not 1 <= args.rate <= 20_000:
        parser.error("--rate must be between 1 and 20,000")
    args.scratch = check_scratch_url(args.database_url)
    return args


async def count_queued(url: str) -> int:
    """Outbound messages due for a hand-off now (not those the simulator refused for a while)."""
    conn = await asyncpg.connect(url)
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM messages WHERE direction = 'egress' AND status = 'queued'"
                " AND next_attempt_at <= now()"
            )
        )
    finally:
        await conn.close()


async def read_last_message_id(url: str) -> int:
    """The highest message ID so far (0 when none)."""
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT coalesce(max(id), 0) FROM messages"))
    finally:
        await conn.close()


async def read_outcomes(url: str, after_id: int, window_s: float) -> dict[str, Any]:
    """Hand-offs and receipts of the messages made after `after_id`, over the offered window."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT created_at, updated_at, status, receipt FROM messages"
            " WHERE id > $1 AND direction = 'egress'",
            after_id,
        )
        first_handoff = await conn.fetchval(
            "SELECT min(h.submitted_at) FROM simulator_messages h WHERE h.message_id > $1",
            after_id,
        )
        handed_in_window = await conn.fetchval(
            "SELECT count(*) FROM simulator_messages h WHERE h.message_id > $1"
            " AND h.submitted_at <= $2",
            after_id,
            None if first_handoff is None else first_handoff + timedelta(seconds=window_s),
        )
    finally:
        await conn.close()
    if not rows:
        return {"on_time": 0.0, "delivered": 0.0, "handed": 0.0, "overall": 0.0, "latencies": []}
    first = min(r["created_at"] for r in rows)
    confirmed_at = [r["updated_at"] for r in rows if r["receipt"] == "confirmed"]
    span = (max(confirmed_at) - first).total_seconds() if confirmed_at else 0.0
    latencies: list[float] = []
    on_time = in_window = 0
    for row in rows:
        if row["receipt"] != "confirmed":
            continue
        latency = (row["updated_at"] - row["created_at"]).total_seconds()
        latencies.append(latency)
        on_time += latency <= ON_TIME_S
        in_window += (row["updated_at"] - first).total_seconds() <= window_s
    return {
        "on_time": on_time / len(rows),
        "delivered": in_window / window_s,
        "handed": (handed_in_window or 0) / window_s,
        "overall": len(confirmed_at) / span if span > 0 else 0.0,
        "latencies": latencies,
    }


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def read_first_handoffs(url: str, ids: Sequence[int]) -> dict[int, datetime]:
    """When each of these messages was first handed to the simulator."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT message_id, min(submitted_at) AS at FROM simulator_messages"
            " WHERE message_id = ANY($1::bigint[]) GROUP BY message_id",
            list(ids),
        )
    finally:
        await conn.close()
    return {int(r["message_id"]): r["at"] for r in rows}


def probe_wake_latency(port: int, org: Organization, url: str) -> list[float]:
    """Send one SMS at a time to idle workers; seconds from each `200` to its hand-off."""
    answered: dict[int, datetime] = {}
    for i in range(PROBE_SENDS):
        status, body = request_json(
            port,
            "POST",
            "/v1/sms/phonenumber",
            org.token,
            {
                "orgId": org.org_id,
                "from": "Tambuli",
                "fullPhoneNumber": f"63917980{i:03d}9",
                "message": f"Wake-up probe {i}",
            },
        )
        # The hand-off may come before the answer is read here: those delays are negative.
        answered_at = datetime.now(UTC)
        if status != 200:
            raise BenchError(f"the probe send was refused: {status} {body}")
        # The public ID ends with the row ID: SMS<stamp>-<org>-<row>.
        answered[int(str(body["messageId"]).rsplit("-", 1)[1])] = answered_at
        time.sleep(PROBE_PAUSE_S)
    time.sleep(1.0)
    handed = asyncio.run(read_first_handoffs(url, list(answered)))
    if len(handed) < PROBE_SENDS:
        raise BenchError(f"only {len(handed)} of {PROBE_SENDS} probe messages were handed off")
    return [(handed[i] - answered[i]).total_seconds() for i in answered]


def wait_for_drain(url: str, limit_s: float) -> float | None:
    """Seconds until no message is queued, or None when `limit_s` passed first."""
    start = time.monotonic()
    while time.monotonic() - start < limit_s:
        if asyncio.run(count_queued(url)) == 0:
            return round(time.monotonic() - start, 1)
        time.sleep(0.5)
    return None


def run_workers(
    args: argparse.Namespace, count: int, work_dir: Path
) -> tuple[ScaleResult | None, str]:
    """One scratch database, the API process and `count` workers; both phases."""
    with scratch_database(args.scratch) as url, ExitStack() as stack:
        env = {**os.environ, **SERVER_ENV, "TAMBULI_DATABASE_URL": url}
        org = create_organization(env, work_dir)
        server = stack.enter_context(run_server(work_dir, env, "--no-workers"))
        workers = []
        for i in range(count):
            worker_dir = work_dir / f"worker-{i + 1}"
            worker_dir.mkdir()
            workers.append(stack.enter_context(run_worker(worker_dir, env)))
        print(f"{count} worker(s): wake-up probe …", flush=True)
        delays = probe_wake_latency(server.port, org, url)
        if args.probe_only:
            print(
                f"  hand-off after the answer: p50 {_percentile(delays, 0.5) * 1000:.1f} ms, "
                f"p90 {_percentile(delays, 0.9) * 1000:.1f} ms, max {max(delays) * 1000:.1f} ms",
                flush=True,
            )
            return None, server.read_log()
        print(f"  accept at c{args.connections} …", flush=True)
        raw = run_wrk(
            "sms.lua",
            args.connections,
            WRK_THREADS,
            args.accept_seconds,
            server.port,
            {
                "TAMBULI_BENCH_TOKEN": org.token,
                "TAMBULI_BENCH_ORG": str(org.org_id),
                "TAMBULI_BENCH_THREADS": str(WRK_THREADS),
                "TAMBULI_BENCH_PHONE_BASE": "0",
                "TAMBULI_BENCH_IDS_OUT": str(work_dir / "ids.txt"),
            },
        )
        drained = wait_for_drain(url, args.drain_limit)
        after_id = asyncio.run(read_last_message_id(url))
        print(f"  sustained: offering {args.rate:g} SMS/s for {args.duration:g} s …", flush=True)
        cpu_before = [read_process_cpu_seconds(p.pid) for p in (server.process, *workers)]
        started = time.monotonic()
        sent, ok, non_2xx, errors, _latencies = asyncio.run(
            offer_load(
                server.port, org.org_id, org.token, args.rate, args.duration, args.connections
            )
        )
        time.sleep(DRAIN_S)
        wall = time.monotonic() - started
        cpu = [
            read_process_cpu_seconds(p.pid) - before
            for p, before in zip((server.process, *workers), cpu_before, strict=True)
        ]
        outcome = asyncio.run(read_outcomes(url, after_id, args.duration))
        log = server.read_log()
    duration_s = raw["duration_us"] / 1e6
    result = ScaleResult(
        workers=count,
        wake_p50_ms=round(_percentile(delays, 0.5) * 1000, 1),
        wake_p90_ms=round(_percentile(delays, 0.9) * 1000, 1),
        wake_max_ms=round(max(delays) * 1000, 1),
        accept_req_per_s=round(raw["requests"] / duration_s, 1),
        accept_p50_ms=round(raw["latency_us"]["p50"] / 1000, 2),
        accept_p99_ms=round(raw["latency_us"]["p99"] / 1000, 2),
        accept_non_2xx=int(raw["non_2xx"]),
        accept_errors=sum(int(v) for v in raw["errors"].values()),
        accept_drain_s=drained,
        offered_per_s=args.rate,
        duration_s=args.duration,
        sent=sent,
        accepted=ok,
        handed_off_per_s=round(outcome["handed"], 1),
        delivered_per_s=round(outcome["delivered"], 1),
        end_to_end_per_s=round(outcome["overall"], 1),
        on_time_fraction=round(outcome["on_time"], 4),
        receipt_p50_ms=round(_percentile(outcome["latencies"], 0.5) * 1000, 1),
        receipt_p99_ms=round(_percentile(outcome["latencies"], 0.99) * 1000, 1),
        api_cpu_percent=round(100 * cpu[0] / wall, 1),
        workers_cpu_percent=[round(100 * c / wall, 1) for c in cpu[1:]],
    )
    if non_2xx or errors:
        print(f"  warning: {non_2xx} non-2xx answers, {errors} client errors", flush=True)
    return result, log


def format_table(results: Sequence[ScaleResult]) -> str:
    """The results as a Markdown table."""
    lines = [
        "| workers | wake-up p50/p90/max ms | accept c64 req/s | accept p50/p99 ms | non-2xx "
        "| queue drained after "
        "| offered SMS/s | accepted | handed off/s | confirmed/s | end to end/s | on time (≤ 1 s) "
        "| receipt p50/p99 ms | CPU % API / workers |",
        "|---:|---|---:|---|---:|---|---:|---|---:|---:|---:|---:|---|---|",
    ]
    for r in results:
        drain = "not within the limit" if r.accept_drain_s is None else f"{r.accept_drain_s:g} s"
        lines.append(
            f"| {r.workers} | {r.wake_p50_ms:g} / {r.wake_p90_ms:g} / {r.wake_max_ms:g} "
            f"| {r.accept_req_per_s:,.0f} | {r.accept_p50_ms:g} / "
            f"{r.accept_p99_ms:g} | {r.accept_non_2xx + r.accept_errors} | {drain} "
            f"| {r.offered_per_s:,.0f} | {r.accepted:,} of {r.sent:,} | {r.handed_off_per_s:,.0f} "
            f"| {r.delivered_per_s:,.0f} | {r.end_to_end_per_s:,.0f} | {r.on_time_fraction:.1%} "
            f"| {r.receipt_p50_ms:g} / {r.receipt_p99_ms:g} "
            f"| {r.api_cpu_percent:g} / {' + '.join(f'{c:g}' for c in r.workers_cpu_percent)} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run every worker count and print the report."""
    args = parse_args(argv)
    machine = describe_machine("wrk (accept), Python open-loop client (sustained)")
    print("## Machine\n")
    print(format_machine(machine), flush=True)
    results: list[ScaleResult] = []
    problems: list[str] = []
    try:
        for count in args.workers:
            with tempfile.TemporaryDirectory(prefix="tambuli-scale-") as tmp:
                result, log = run_workers(args, count, Path(tmp))
            if result is not None:
                results.append(result)
            crashes = [e for e in find_server_errors(log) if not is_cancellation(e)]
            if crashes:
                problems.append(f"{count} worker(s): {summarise_server_errors(crashes)}")
        with scratch_database(args.scratch) as url:
            machine["postgresql"] = asyncio.run(describe_postgres(url))
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("\n## Results\n")
    print(format_table(results))
    for problem in problems:
        print(f"\nPROBLEM: the API process logged errors: {problem}")
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        payload = {"machine": machine, "results": [asdict(r) for r in results]}
        args.json_out.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
