"""WhatsApp through the Cloud API channel: accept at c64, and sustained end to end with statuses.

Each part starts a fresh `tambuli serve` on SQLite with one `kind = "whatsapp_cloud"` channel
pointed at bench/graph_peer.py (its own process, on 127.0.0.1), a business number registered to
it and a one-parameter template (every recipient is new, so every message is a template):

- accept: wrk at `--connections` (64) on POST /v1/whatsapp/contact for `--accept-duration`
  seconds: requests/s and latency p50/p99 (the workers hand the messages to the peer, and its
  statuses come back, meanwhile: the server does all its work, not the accept alone);
- pipeline: an open-loop client offers `--rate` (500) sends per second for `--duration`
  seconds (those it has not sent 10 s after the window are dropped: "sent" counts the rest);
  the peer answers each at once and posts its sent, delivered and read statuses as
  signed webhooks. Then the database says how many messages have all three statuses recorded,
  the delivered rate (messages whose `delivered` was recorded within the offered window, per
  second) and the status latency (from a message's creation to its last status recorded).

    ./scripts/bench whatsapp [--rate 500] [--duration 60] [--accept-duration 15]
        [--connections 64] [--json-out FILE]

Load goes only to 127.0.0.1. The peer waits `--status-gap` seconds between a message's
statuses, so the read status comes at least twice that after the answer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.api_load import (
    HOST,
    BenchError,
    Organization,
    check_wrk_installed,
    create_organization,
    describe_machine,
    find_free_port,
    format_machine,
    run_server,
    run_wrk,
    tambuli_command,
)
from bench.sms_pipeline import offer_load

CHANNEL = "whatsapp"
APP_SECRET = "bench-app-secret"
TOKEN_ENV = "TAMBULI_BENCH_WHATSAPP_TOKEN"
BUSINESS_NUMBER = "15550783881"
PHONE_NUMBER_ID = "106540352242922"
TEMPLATE = "bench_reminder"
# After the offered window, how long the last statuses may still come in.
DRAIN_S = 30.0
# Sends still unsent this long after the offered window are dropped (counted as not sent).
GIVE_UP_S = 10.0
SERVER_ENV = {"TAMBULI_WORKER_POLL_SECONDS": "0.02", TOKEN_ENV: "bench-access-token"}


@dataclass
class AcceptResult:
    """What wrk measured on POST /v1/whatsapp/contact."""

    connections: int
    duration_s: float
    requests: int
    req_per_s: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int


@dataclass
class PipelineResult:
    """What one offered rate achieved end to end."""

    offered_per_s: float
    duration_s: float
    sent: int
    accepted: int
    non_2xx: int
    client_errors: int
    accept_p50_ms: float
    accept_p99_ms: float
    handed_to_peer: int
    all_statuses_recorded: int
    delivered_per_s: float
    status_p50_ms: float
    status_p99_ms: float
    webhooks: int
    webhook_answers: dict[str, int]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=500.0, help="offered sends per second")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds offered")
    parser.add_argument("--accept-duration", type=float, default=15.0, help="seconds of wrk")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--status-gap", type=float, default=0.05, help="peer's seconds")
    parser.add_argument("--json-out", type=Path, help="also write the results as JSON here")
    return parser.parse_args(argv)


def write_config(path: Path, peer_port: int) -> None:
    """The channel config: the SMS simulator and the Cloud API channel on the peer."""
    path.write_text(
        f"""
[[channels]]
name = "simulator"
kind = "simulator"

[[channels]]
name = "{CHANNEL}"
kind = "whatsapp_cloud"
app_secret = "{APP_SECRET}"
verify_token = "bench"
graph_url = "http://{HOST}:{peer_port}"
# No pacing: the peer is one number standing in for many, and takes whatever comes.
messages_per_second = 0
max_concurrent = 64

[[routes]]
name = "all"
channels = ["simulator"]
""",
        encoding="utf-8",
    )


def run_cli(env: dict[str, str], work_dir: Path, *args: str) -> None:
    """One `tambuli` command that must succeed."""
    ran = subprocess.run(
        tambuli_command(*args),
        env=env,
        cwd=work_dir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if ran.returncode != 0:
        raise BenchError(f"tambuli {' '.join(args)} failed:\n{ran.stdout}{ran.stderr}")


def prepare(work_dir: Path) -> tuple[dict[str, str], Organization, int, Path]:
    """A database with the organization, its number and template; (env, org, peer port, db)."""
    db_path = work_dir / "bench.db"
    peer_port = find_free_port()
    config = work_dir / "tambuli.toml"
    write_config(config, peer_port)
    env = {
        **os.environ,
        **SERVER_ENV,
        "TAMBULI_DATABASE_URL": f"sqlite:///{db_path}",
        "TAMBULI_CONFIG": str(config),
    }
    org = create_organization(env, work_dir)
    run_cli(env, work_dir, "whatsapp", "numbers", "add", "--org", str(org.org_id),
            "--number", BUSINESS_NUMBER, "--phone-number-id", PHONE_NUMBER_ID,
            "--token-env", TOKEN_ENV, "--channel", CHANNEL, "--price", "0.01")  # fmt: skip
    run_cli(env, work_dir, "whatsapp", "templates", "add", "--number", BUSINESS_NUMBER,
            "--name", TEMPLATE, "--language", "en", "--body", "Reminder {{1}}")  # fmt: skip
    return env, org, peer_port, db_path


@contextmanager
def run_peer(work_dir: Path, port: int, server_port: int, status_gap: float) -> Iterator[Path]:
    """bench/graph_peer.py until the block ends; yields where its report will be."""
    report = work_dir / "peer.json"
    command = [
        sys.executable, "-m", "bench.graph_peer", "--port", str(port),
        "--webhook-url", f"http://{HOST}:{server_port}/v1/whatsapp/webhooks/{CHANNEL}",
        "--app-secret", APP_SECRET, "--report", str(report),
        "--status-gap", str(status_gap),
    ]  # fmt: skip
    with (work_dir / "peer.log").open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, cwd=Path(__file__).parent.parent
        )
    try:
        time.sleep(0.5)
        if process.poll() is not None:
            raise BenchError(f"the Graph peer exited:\n{(work_dir / 'peer.log').read_text()}")
        yield report
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)


def measure_accept(args: argparse.Namespace) -> AcceptResult:
    """wrk on POST /v1/whatsapp/contact against a fresh server."""
    with tempfile.TemporaryDirectory(prefix="tambuli-whatsapp-") as tmp:
        work_dir = Path(tmp)
        env, org, peer_port, _ = prepare(work_dir)
        with (
            run_server(work_dir, env) as server,
            run_peer(work_dir, peer_port, server.port, args.status_gap),
        ):
            threads = 2
            raw = run_wrk(
                "whatsapp.lua",
                args.connections,
                threads,
                args.accept_duration,
                server.port,
                {
                    "TAMBULI_BENCH_ORG": str(org.org_id),
                    "TAMBULI_BENCH_TOKEN": org.token,
                    "TAMBULI_BENCH_THREADS": str(threads),
                    "TAMBULI_BENCH_PHONE_BASE": "0",
                    "TAMBULI_BENCH_FROM": BUSINESS_NUMBER,
                    "TAMBULI_BENCH_IDS_OUT": str(work_dir / "ids.txt"),
                },
            )
    duration_s = raw["duration_us"] / 1e6
    return AcceptResult(
        connections=args.connections,
        duration_s=round(duration_s, 1),
        requests=int(raw["requests"]),
        req_per_s=round(raw["requests"] / duration_s, 1),
        p50_ms=round(raw["latency_us"]["p50"] / 1000, 1),
        p99_ms=round(raw["latency_us"]["p99"] / 1000, 1),
        non_2xx=int(raw["non_2xx"]),
        socket_errors=sum(int(raw["errors"][k]) for k in ("connect", "read", "write", "timeout")),
    )


def template_request(org_id: int, token: str, sequence: int) -> bytes:
    """One POST /v1/whatsapp/contact: a template to a number of its own."""
    body = json.dumps(
        {
            "orgId": org_id,
            "from": BUSINESS_NUMBER,
            "fullPhoneNumber": f"63918{sequence % 10_000_000:07d}",
            "message": "",
            "content": {"name": TEMPLATE, "language": "en", "parameters": [f"#{sequence}"]},
        }
    ).encode()
    head = (
        f"POST /v1/whatsapp/contact HTTP/1.1\r\nHost: {HOST}\r\n"
        f"Authorization: Token {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def read_statuses(db_path: Path, window_s: float) -> tuple[int, int, float, list[float]]:
    """(handed to the peer, with all three statuses, delivered per second, status latencies)."""
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute(
            "SELECT created_at, updated_at, handed_at, sent_at, delivered_at, read_at"
            " FROM whatsapp_messages WHERE direction = 'egress'"
        ).fetchall()
    if not rows:
        return 0, 0, 0.0, []
    first = min(datetime.fromisoformat(r[0]) for r in rows)
    handed = sum(1 for r in rows if r[2] is not None)
    complete = [r for r in rows if r[3] and r[4] and r[5]]
    # Status times are whole seconds (Meta's timestamps): the window gets one more second.
    delivered = sum(
        1
        for r in rows
        if r[4] and (datetime.fromisoformat(r[4]) - first).total_seconds() <= window_s + 1
    )
    latencies = [
        (datetime.fromisoformat(r[1]) - datetime.fromisoformat(r[0])).total_seconds()
        for r in complete
    ]
    return handed, len(complete), delivered / window_s, latencies


def measure_pipeline(args: argparse.Namespace) -> PipelineResult:
    """Offer the rate to a fresh server; read what the statuses did."""
    with tempfile.TemporaryDirectory(prefix="tambuli-whatsapp-") as tmp:
        work_dir = Path(tmp)
        env, org, peer_port, db_path = prepare(work_dir)
        with run_server(work_dir, env) as server:
            with run_peer(work_dir, peer_port, server.port, args.status_gap) as report:
                sent, ok, non_2xx, errors, latencies = asyncio.run(
                    offer_load(
                        server.port,
                        org.org_id,
                        org.token,
                        args.rate,
                        args.duration,
                        args.connections,
                        template_request,
                        give_up_after=args.duration + GIVE_UP_S,
                    )
                )
                deadline = time.monotonic() + DRAIN_S
                while time.monotonic() < deadline:
                    if read_statuses(db_path, args.duration)[1] >= ok:
                        break
                    time.sleep(1.0)
            peer = json.loads(report.read_text())
        handed, complete, delivered, status_latencies = read_statuses(db_path, args.duration)
    return PipelineResult(
        offered_per_s=args.rate,
        duration_s=args.duration,
        sent=sent,
        accepted=ok,
        non_2xx=non_2xx,
        client_errors=errors,
        accept_p50_ms=round(_percentile(latencies, 0.5) * 1000, 1),
        accept_p99_ms=round(_percentile(latencies, 0.99) * 1000, 1),
        handed_to_peer=handed,
        all_statuses_recorded=complete,
        delivered_per_s=round(delivered, 1),
        status_p50_ms=round(_percentile(status_latencies, 0.5) * 1000, 1),
        status_p99_ms=round(_percentile(status_latencies, 0.99) * 1000, 1),
        webhooks=int(peer["webhooks"]),
        webhook_answers={str(k): int(v) for k, v in peer["answers"].items()},
    )


def format_report(accept: AcceptResult, pipeline: PipelineResult) -> str:
    """Both parts as Markdown tables."""
    a, p = accept, pipeline
    answers = ", ".join(f"{k}: {v:,}" for k, v in p.webhook_answers.items())
    return "\n".join(
        [
            "| accept | connections | req/s | p50 ms | p99 ms | non-2xx + errors |",
            "|---|---|---|---|---|---|",
            f"| POST /v1/whatsapp/contact | {a.connections} | {a.req_per_s:,.0f}"
            f" | {a.p50_ms:g} | {a.p99_ms:g} | {a.non_2xx + a.socket_errors} |",
            "",
            "| offered msg/s | accepted of sent | accept p50/p99 ms | handed | all 3 statuses "
            "| delivered msg/s | status p50/p99 ms | webhooks (answers) |",
            "|---|---|---|---|---|---|---|---|",
            f"| {p.offered_per_s:,.0f} | {p.accepted:,} of {p.sent:,}"
            f" | {p.accept_p50_ms:g} / {p.accept_p99_ms:g} | {p.handed_to_peer:,}"
            f" | {p.all_statuses_recorded:,} | {p.delivered_per_s:,.0f}"
            f" | {p.status_p50_ms:g} / {p.status_p99_ms:g}"
            f" | {p.webhooks:,} ({answers}) |",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run both parts and print the report."""
    args = parse_args(argv)
    try:
        wrk_version = check_wrk_installed()
        print("## Machine\n")
        print(format_machine(describe_machine(wrk_version)), flush=True)
        print(f"\naccept: wrk c{args.connections} for {args.accept_duration:g}s …", flush=True)
        accept = measure_accept(args)
        print(f"  {accept}", flush=True)
        print(f"pipeline: {args.rate:g} msg/s offered for {args.duration:g}s …", flush=True)
        pipeline = measure_pipeline(args)
        print(f"  {pipeline}", flush=True)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("\n## Results\n")
    print(format_report(accept, pipeline))
    print(f"\nload average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        payload: dict[str, Any] = {"accept": asdict(accept), "pipeline": asdict(pipeline)}
        args.json_out.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
