"""Sustained end-to-end SMS throughput of one `tambuli serve` process on SQLite.

For each offered rate, starts a fresh server (delivery workers, simulator with receipts due at
once), offers POST /v1/sms/phonenumber at a constant rate for the duration (open loop: request
i is due at start + i/rate whether or not earlier answers came back), then reads the database:

- accepted: messages the API answered 200 for;
- on time: messages whose receipt was recorded within 1 s of their creation;
- delivered rate: receipts recorded per second during the offered window;
- commits per message: write transactions the server made, over messages accepted.

    .venv/bin/python bench/sms_pipeline.py [--rates 500,1000,2000] [--duration 60]
        [--connections 64] [--json-out FILE]

Load goes only to 127.0.0.1. The issue's targets: at the sustained rate, >= 95 % on time for
60 s, >= 1,000 msg/s; at twice that rate, delivery keeps >= 80 % of the sustained rate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.api_load import (
    HOST,
    BenchError,
    RssSampler,
    create_organization,
    describe_machine,
    format_machine,
    read_proc_status_kib,
    run_server,
)

ON_TIME_S = 1.0
# After the offered window, how long answers and receipts may still come in.
DRAIN_S = 10.0
SERVER_ENV = {
    "TAMBULI_SIMULATOR_RECEIPT_DELAY": "0",
    # One number per message, so the per-number limit never holds delivery back.
    "TAMBULI_WORKER_POLL_SECONDS": "0.02",
}
COMMITS_MARKER = "database write transactions:"


@dataclass
class RateResult:
    """What one offered rate achieved."""

    offered_per_s: float
    duration_s: float
    sent: int
    accepted: int
    non_2xx: int
    client_errors: int
    accept_p50_ms: float
    accept_p99_ms: float
    on_time_fraction: float
    delivered_per_s: float
    receipt_p50_ms: float
    receipt_p99_ms: float
    commits_per_message: float | None
    peak_rss_mib: float


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="500,1000,2000", help="offered msg/s, comma-separated")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per rate")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections")
    parser.add_argument("--json-out", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    args.rates = [float(r) for r in args.rates.split(",") if r.strip()]
    return args


def _request_bytes(org_id: int, token: str, sequence: int) -> bytes:
    body = json.dumps(
        {
            "orgId": org_id,
            "from": "Tambuli",
            "fullPhoneNumber": f"63918{sequence % 10_000_000:07d}",
            "message": f"Your appointment is tomorrow at 9:00. Ref {sequence}",
        }
    ).encode()
    head = (
        f"POST /v1/sms/phonenumber HTTP/1.1\r\nHost: {HOST}\r\n"
        f"Authorization: Token {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("connection closed")
    status = int(status_line.split()[1])
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    if length:
        await reader.readexactly(length)
    return status


async def offer_load(
    port: int,
    org_id: int,
    token: str,
    rate: float,
    duration: float,
    connections: int,
    build_request: Callable[[int, str, int], bytes] = _request_bytes,
    give_up_after: float | None = None,
) -> tuple[int, int, int, int, list[float]]:
    """Offer `rate` requests per second for `duration`; (sent, ok, non-2xx, errors, latencies).

    `build_request(org_id, token, sequence)` writes each request (an SMS send by default).
    With `give_up_after`, requests not yet sent that many seconds after the start are dropped
    (a server far below the rate would otherwise keep the client going for many times the
    duration); `sent` counts only the requests sent."""
    total = int(rate * duration)
    due: asyncio.Queue[tuple[int, float]] = asyncio.Queue()
    latencies: list[float] = []
    counts = {"ok": 0, "non_2xx": 0, "errors": 0, "dropped": 0}
    start = time.monotonic() + 0.2

    async def schedule() -> None:
        for i in range(total):
            at = start + i / rate
            delay = at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            due.put_nowait((i, at))
        for _ in range(connections):
            due.put_nowait((-1, 0.0))

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            while True:
                sequence, at = await due.get()
                if sequence < 0:
                    return
                if give_up_after is not None and time.monotonic() > start + give_up_after:
                    counts["dropped"] += 1
                    continue
                try:
                    writer.write(build_request(org_id, token, sequence))
                    status = await _read_response(reader)
                except (ConnectionError, OSError, ValueError, asyncio.IncompleteReadError):
                    counts["errors"] += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection(HOST, port)
                    continue
                # Latency from when the request was due, so queueing in the client counts.
                latencies.append(time.monotonic() - at)
                counts["ok" if 200 <= status < 300 else "non_2xx"] += 1
        finally:
            writer.close()

    await asyncio.gather(schedule(), *(connection() for _ in range(connections)))
    sent = total - counts["dropped"]
    return sent, counts["ok"], counts["non_2xx"], counts["errors"], latencies


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def read_outcomes(db_path: Path, window_s: float) -> tuple[float, float, list[float]]:
    """(fraction on time, receipts per second in the window, receipt latencies in seconds)."""
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute(
            "SELECT created_at, updated_at, receipt FROM messages WHERE direction = 'egress'"
        ).fetchall()
    if not rows:
        return 0.0, 0.0, []
    first = min(_parse_time(r[0]) for r in rows)
    latencies: list[float] = []
    on_time = in_window = 0
    for created, updated, receipt in rows:
        if receipt != "confirmed":
            continue
        latency = (_parse_time(updated) - _parse_time(created)).total_seconds()
        latencies.append(latency)
        on_time += latency <= ON_TIME_S
        in_window += (_parse_time(updated) - first).total_seconds() <= window_s
    return on_time / len(rows), in_window / window_s, latencies


def run_rate(args: argparse.Namespace, rate: float) -> RateResult:
    """One fresh server, one offered rate."""
    with tempfile.TemporaryDirectory(prefix="tambuli-pipeline-") as tmp:
        work_dir = Path(tmp)
        db_path = work_dir / "bench.db"
        env = {**os.environ, **SERVER_ENV, "TAMBULI_DATABASE_URL": f"sqlite:///{db_path}"}
        org = create_organization(env, work_dir)
        with run_server(work_dir, env) as server:
            sampler = RssSampler(server.process.pid)
            sampler.start()
            try:
                sent, ok, non_2xx, errors, latencies = asyncio.run(
                    offer_load(
                        server.port, org.org_id, org.token, rate, args.duration, args.connections
                    )
                )
                time.sleep(DRAIN_S)
            finally:
                sampler.sample_rss()
                sampler.stop()
            peak_kib = max(sampler.peak_kib, read_proc_status_kib(server.process.pid, "VmHWM") or 0)
            log_offset = server.measure_log_size()
        log = server.read_log(log_offset)
        on_time, delivered, receipt_latencies = read_outcomes(db_path, args.duration)
    commits = None
    for line in log.splitlines():
        if COMMITS_MARKER in line:
            commits = int(line.rsplit(COMMITS_MARKER, 1)[1].split()[0])
    return RateResult(
        offered_per_s=rate,
        duration_s=args.duration,
        sent=sent,
        accepted=ok,
        non_2xx=non_2xx,
        client_errors=errors,
        accept_p50_ms=round(_percentile(latencies, 0.5) * 1000, 1),
        accept_p99_ms=round(_percentile(latencies, 0.99) * 1000, 1),
        on_time_fraction=round(on_time, 4),
        delivered_per_s=round(delivered, 1),
        receipt_p50_ms=round(_percentile(receipt_latencies, 0.5) * 1000, 1),
        receipt_p99_ms=round(_percentile(receipt_latencies, 0.99) * 1000, 1),
        commits_per_message=None if commits is None or not ok else round(commits / ok, 3),
        peak_rss_mib=round(peak_kib / 1024, 1),
    )


def format_table(results: Sequence[RateResult]) -> str:
    """The results as a Markdown table."""
    lines = [
        "| offered msg/s | accepted | non-2xx | accept p50/p99 ms | on time (≤ 1 s) "
        "| delivered msg/s | receipt p50/p99 ms | commits/msg | peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        commits = "n/a" if r.commits_per_message is None else f"{r.commits_per_message:.3f}"
        lines.append(
            f"| {r.offered_per_s:,.0f} | {r.accepted:,} of {r.sent:,}"
            f" | {r.non_2xx + r.client_errors} | {r.accept_p50_ms:g} / {r.accept_p99_ms:g}"
            f" | {r.on_time_fraction:.1%}"
            f" | {r.delivered_per_s:,.0f} | {r.receipt_p50_ms:g} / {r.receipt_p99_ms:g}"
            f" | {commits} | {r.peak_rss_mib:g} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run every rate and print the report."""
    args = parse_args(argv)
    print("## Machine\n")
    print(format_machine(describe_machine("(not used; Python open-loop client)")))
    print(
        f"\nrates {', '.join(f'{r:g}' for r in args.rates)} msg/s, {args.duration:g} s each, "
        f"{args.connections} connections\n",
        flush=True,
    )
    results: list[RateResult] = []
    try:
        for rate in args.rates:
            print(f"offering {rate:g} msg/s for {args.duration:g}s …", flush=True)
            result = run_rate(args, rate)
            results.append(result)
            print(
                f"  accepted {result.accepted:,}/{result.sent:,}, on time "
                f"{result.on_time_fraction:.1%}, delivered {result.delivered_per_s:,.0f} msg/s",
                flush=True,
            )
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("\n## Results\n")
    print(format_table(results))
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        payload: dict[str, Any] = {"results": [asdict(r) for r in results]}
        args.json_out.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
