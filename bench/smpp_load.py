"""SMS end to end through SMPP: one `tambuli serve` on SQLite and an SMSC in its own process.

The SMSC is bench/smpp_peer.py (smpp34's compiled server): it answers every submit_sm at once
and sends a receipt for it. Tambuli has one transceiver bind with a window of 10. Two parts:

- **throughput**: POST /v1/sms/phonenumber offered at --rate msg/s for --duration s (open
  loop, one number per message) while the bind's limit is far above it. Reported: parts handed
  to the SMSC per second (counted by the SMSC), receipts recorded per second, and the share of
  messages whose receipt was recorded within 1 s of the request.
- **channel**: the SMPP channel alone (no database, no API), as the Dispatcher drives it:
  CHANNEL_MESSAGES one-part messages in batches of CHANNEL_BATCH, receipts taken as they come.
  It shows what the channel and the SMSC can carry apart from the rest of the process.
- **limits**: for each of --limits parts/s, a fresh server and SMSC; the API queues more
  messages than the window can carry before the bind starts, then the SMSC's arrival times give
  the rate over --limit-duration s from the first arrival (target: within ±5 % of the limit)
  and the most parts in any 1-second window (target: not above the limit).

    .venv/bin/python -m bench.smpp_load [--rate 2000] [--duration 60] [--limits 1,10,100]
        [--limit-duration 60] [--skip-throughput] [--skip-limits] [--json-out FILE]

Everything listens on and is sent to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.api_load import (
    HOST,
    BenchError,
    RssSampler,
    create_organization,
    describe_machine,
    find_free_port,
    format_machine,
    read_proc_status_kib,
    read_process_cpu_seconds,
    run_server,
    run_worker_process,
)
from bench.sms_pipeline import offer_load, read_outcomes
from tambuli.channels.base import InboundSms, OutboundSms, Outcome, Receipt
from tambuli.channels.config.specs import SmppChannelConfig
from tambuli.channels.secrets import Secret
from tambuli.channels.sms.smpp.channel import SmppChannel
from tambuli.clock import SystemClock
from tambuli.messaging.segments import segment_message

WINDOW = 10
# The bind's limit in the throughput part: far above any rate this machine can offer.
UNLIMITED_PARTS_PER_SECOND = 100_000
DRAIN_S = 10.0
PEER_START_TIMEOUT_S = 10.0
LIMIT_TOLERANCE = 0.05
CHANNEL_MESSAGES = 30_000
CHANNEL_BATCH = 500


@dataclass
class ThroughputResult:
    """What the throughput part achieved."""

    offered_per_s: float
    duration_s: float
    sent: int
    accepted: int
    non_2xx: int
    handed_to_smsc: int
    handed_per_s: float
    receipts_per_s: float
    on_time_fraction: float
    receipt_p50_ms: float
    receipt_p99_ms: float
    server_cpu_percent: float
    peak_rss_mib: float


@dataclass
class ChannelResult:
    """What the channel alone carried."""

    messages: int
    seconds: float
    parts_per_s: float
    receipts: int
    cpu_seconds: float


@dataclass
class LimitResult:
    """How closely one bind kept to its limit."""

    limit_per_s: float
    duration_s: float
    queued: int
    parts_in_window: int
    rate_per_s: float
    deviation: float
    busiest_second: int
    within_tolerance: bool
    never_above: bool


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=2000.0, help="offered msg/s")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of offered load")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections")
    parser.add_argument("--limits", default="1,10,100", help="parts/s limits, comma-separated")
    parser.add_argument("--limit-duration", type=float, default=60.0, help="seconds per limit")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-limits", action="store_true")
    parser.add_argument("--skip-channel", action="store_true")
    parser.add_argument("--json-out", type=Path, help="also write the results as JSON here")
    parser.add_argument(
        "--worker-process",
        action="store_true",
        help="run the workers in a `tambuli worker` beside `tambuli serve --no-workers`",
    )
    parser.add_argument("--keep-logs", type=Path, help="copy the server's and SMSC's logs here")
    args = parser.parse_args(argv)
    args.limits = [float(v) for v in args.limits.split(",") if v.strip()]
    return args


@dataclass
class Peer:
    """A running SMSC process."""

    process: subprocess.Popen[bytes]
    port: int
    arrivals_path: Path
    log_path: Path


@contextmanager
def run_peer(work_dir: Path) -> Iterator[Peer]:
    """Start bench/smpp_peer.py and stop it (SIGTERM, which writes its arrivals) afterwards."""
    port = find_free_port()
    arrivals = work_dir / "arrivals.json"
    log_path = work_dir / "peer.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.smpp_peer",
                "--port",
                str(port),
                "--arrivals",
                str(arrivals),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parent.parent,
        )
    peer = Peer(process, port, arrivals, log_path)
    try:
        deadline = time.monotonic() + PEER_START_TIMEOUT_S
        while b"listening" not in log_path.read_bytes():
            if process.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"the SMSC did not start:\n{log_path.read_text()}")
            time.sleep(0.05)
        yield peer
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def read_arrivals(peer: Peer) -> list[float]:
    """The SMSC's arrival times, once it has stopped."""
    if not peer.arrivals_path.exists():
        raise BenchError(f"the SMSC wrote no arrivals:\n{peer.log_path.read_text()}")
    return sorted(float(t) for t in json.loads(peer.arrivals_path.read_text()))


def write_config(path: Path, peer_port: int, parts_per_second: float) -> None:
    """A TAMBULI_CONFIG with one SMPP channel to the peer and a route for every number."""
    path.write_text(
        f"""
[[channels]]
name = "bench-smpp"
kind = "smpp"
host = "{HOST}"
port = {peer_port}
system_id = "tambuli"
password = "bench"
bind = "transceiver"
window = {WINDOW}
parts_per_second = {parts_per_second:g}

[[routes]]
name = "everything"
channels = ["bench-smpp"]
""",
        encoding="utf-8",
    )


def keep_logs(args: argparse.Namespace, work_dir: Path, label: str) -> None:
    """Copy the run's logs to --keep-logs, if given."""
    if args.keep_logs is None:
        return
    args.keep_logs.mkdir(parents=True, exist_ok=True)
    for name in ("serve.log", "worker.log", "peer.log"):
        if (work_dir / name).exists():
            shutil.copyfile(work_dir / name, args.keep_logs / f"{label}-{name}")


def count_busiest_second(arrivals: Sequence[float]) -> int:
    """The most arrivals within any window [t, t + 1 s)."""
    busiest = 0
    for index, start in enumerate(arrivals):
        end = bisect.bisect_left(arrivals, start + 1.0, lo=index)
        busiest = max(busiest, end - index)
    return busiest


def percentile(values: Sequence[float], fraction: float) -> float:
    """The value below which `fraction` of the values lie (0 for none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def server_env(work_dir: Path, db_path: Path, config: Path) -> dict[str, str]:
    """The environment of `tambuli serve` and the CLI for one run."""
    return {
        **os.environ,
        "TAMBULI_DATABASE_URL": f"sqlite:///{db_path}",
        "TAMBULI_CONFIG": str(config),
    }


def run_throughput(args: argparse.Namespace) -> ThroughputResult:
    """Offer the rate through a bind without a binding limit; measure hand-offs and receipts."""
    with tempfile.TemporaryDirectory(prefix="tambuli-smpp-") as tmp:
        work_dir = Path(tmp)
        db_path = work_dir / "bench.db"
        with run_peer(work_dir) as peer:
            config = work_dir / "tambuli.toml"
            write_config(config, peer.port, UNLIMITED_PARTS_PER_SECOND)
            env = server_env(work_dir, db_path, config)
            org = create_organization(env, work_dir)
            serve_args = ("--no-workers",) if args.worker_process else ()
            with (
                run_server(work_dir, env, *serve_args) as server,
                run_worker_process(args.worker_process, work_dir, env),
            ):
                sampler = RssSampler(server.process.pid)
                sampler.start()
                cpu_before = read_process_cpu_seconds(server.process.pid)
                started = time.monotonic()
                try:
                    sent, ok, non_2xx, errors, _ = asyncio.run(
                        offer_load(
                            server.port,
                            org.org_id,
                            org.token,
                            args.rate,
                            args.duration,
                            args.connections,
                        )
                    )
                    cpu_used = read_process_cpu_seconds(server.process.pid) - cpu_before
                    busy_s = time.monotonic() - started
                    time.sleep(DRAIN_S)
                finally:
                    sampler.sample_rss()
                    sampler.stop()
                peak_kib = max(
                    sampler.peak_kib, read_proc_status_kib(server.process.pid, "VmHWM") or 0
                )
        arrivals = read_arrivals(peer)
        keep_logs(args, work_dir, "throughput")
        on_time, receipts_per_s, latencies = read_outcomes(db_path, args.duration)
    in_window = [t for t in arrivals if t < arrivals[0] + args.duration] if arrivals else []
    return ThroughputResult(
        offered_per_s=args.rate,
        duration_s=args.duration,
        sent=sent,
        accepted=ok,
        non_2xx=non_2xx + errors,
        handed_to_smsc=len(arrivals),
        handed_per_s=round(len(in_window) / args.duration, 1),
        receipts_per_s=round(receipts_per_s, 1),
        on_time_fraction=round(on_time, 4),
        receipt_p50_ms=round(percentile(latencies, 0.5) * 1000, 1),
        receipt_p99_ms=round(percentile(latencies, 0.99) * 1000, 1),
        server_cpu_percent=round(100 * cpu_used / busy_s, 1),
        peak_rss_mib=round(peak_kib / 1024, 1),
    )


async def queue_messages(port: int, org_id: int, token: str, count: int) -> int:
    """Queue `count` messages through the API as fast as it takes them; how many it accepted."""
    rate = 1e6
    # Half a message more than `count` so that rounding cannot leave the last one out.
    _, ok, _, _, _ = await offer_load(port, org_id, token, rate, (count + 0.5) / rate, 16)
    return ok


def run_limit(args: argparse.Namespace, limit: float) -> LimitResult:
    """One bind limited to `limit` parts/s with more queued than it may send in the window."""
    queued = math.ceil(limit * (args.limit_duration + 5)) + 5
    with tempfile.TemporaryDirectory(prefix="tambuli-smpp-limit-") as tmp:
        work_dir = Path(tmp)
        db_path = work_dir / "bench.db"
        with run_peer(work_dir) as peer:
            config = work_dir / "tambuli.toml"
            write_config(config, peer.port, limit)
            env = server_env(work_dir, db_path, config)
            org = create_organization(env, work_dir)
            with run_server(work_dir, env) as server:
                accepted = asyncio.run(queue_messages(server.port, org.org_id, org.token, queued))
                if accepted != queued:
                    raise BenchError(f"the API accepted {accepted} of {queued} messages")
                deadline = time.monotonic() + args.limit_duration + 15
                while time.monotonic() < deadline:
                    time.sleep(0.5)
        arrivals = read_arrivals(peer)
        keep_logs(args, work_dir, f"limit-{limit:g}")
    if not arrivals:
        raise BenchError(f"nothing reached the SMSC at {limit:g} parts/s")
    window = [t for t in arrivals if t < arrivals[0] + args.limit_duration]
    rate = len(window) / args.limit_duration
    deviation = rate / limit - 1
    busiest = count_busiest_second(arrivals)
    return LimitResult(
        limit_per_s=limit,
        duration_s=args.limit_duration,
        queued=queued,
        parts_in_window=len(window),
        rate_per_s=round(rate, 3),
        deviation=round(deviation, 4),
        busiest_second=busiest,
        within_tolerance=abs(deviation) <= LIMIT_TOLERANCE,
        never_above=busiest <= limit,
    )


class CountedEvents:
    """A ChannelEvents sink that only counts."""

    def __init__(self) -> None:
        self.receipts = 0

    async def record_receipts(self, receipts: Sequence[Receipt]) -> set[str]:
        self.receipts += len(receipts)
        return set()

    async def record_inbound(self, messages: Sequence[InboundSms]) -> None:
        return None


async def wait_until(condition: Callable[[], bool], seconds: float) -> None:
    """Poll `condition` until it holds or `seconds` pass."""
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)


async def drive_channel(port: int) -> ChannelResult:
    """Submit CHANNEL_MESSAGES through one bind, batch by batch, taking receipts meanwhile."""
    config = SmppChannelConfig(
        name="bench-smpp",
        host=HOST,
        port=port,
        system_id="tambuli",
        password=Secret("bench"),
        parts_per_second=UNLIMITED_PARTS_PER_SECOND,
        window=WINDOW,
    )
    channel = SmppChannel(config, SystemClock())
    await channel.open()
    sink = CountedEvents()

    async def take_events() -> None:
        while True:
            await channel.events_waiting.wait()
            await channel.poll_events(sink)

    events = asyncio.create_task(take_events())
    try:
        await wait_until(lambda: channel.is_bound, PEER_START_TIMEOUT_S)
        segmented = segment_message("Your appointment is tomorrow at 9:00.")
        messages = [
            OutboundSms(
                i, "Tambuli", f"63918{i:07d}", "", segmented.parts, segmented.encoding.value, 1
            )
            for i in range(CHANNEL_MESSAGES)
        ]
        cpu_before = time.process_time()
        started = time.monotonic()
        accepted = 0
        for first in range(0, CHANNEL_MESSAGES, CHANNEL_BATCH):
            answers = await channel.submit(messages[first : first + CHANNEL_BATCH])
            accepted += sum(1 for a in answers if a.outcome == Outcome.ACCEPTED)
        seconds = time.monotonic() - started
        cpu = time.process_time() - cpu_before
        await wait_until(lambda: sink.receipts >= CHANNEL_MESSAGES, DRAIN_S)
    finally:
        events.cancel()
        await channel.close()
    if accepted != CHANNEL_MESSAGES:
        raise BenchError(f"the SMSC accepted {accepted:,} of {CHANNEL_MESSAGES:,} messages")
    return ChannelResult(
        messages=CHANNEL_MESSAGES,
        seconds=round(seconds, 2),
        parts_per_s=round(CHANNEL_MESSAGES / seconds, 1),
        receipts=sink.receipts,
        cpu_seconds=round(cpu, 2),
    )


def run_channel(args: argparse.Namespace) -> ChannelResult:
    """The channel alone against a fresh SMSC."""
    with (
        tempfile.TemporaryDirectory(prefix="tambuli-smpp-channel-") as tmp,
        run_peer(Path(tmp)) as peer,
    ):
        return asyncio.run(drive_channel(peer.port))


def format_throughput(result: ThroughputResult) -> str:
    """The throughput part as a Markdown table."""
    r = result
    return "\n".join(
        [
            "| offered msg/s | accepted | non-2xx | handed to the SMSC msg/s | receipts recorded "
            "msg/s | receipt ≤ 1 s | receipt p50 / p99 ms | server CPU | peak RSS MiB |",
            "|---|---|---|---|---|---|---|---|---|",
            f"| {r.offered_per_s:,.0f} | {r.accepted:,} of {r.sent:,} | {r.non_2xx}"
            f" | {r.handed_per_s:,.0f} | {r.receipts_per_s:,.0f} | {r.on_time_fraction:.1%}"
            f" | {r.receipt_p50_ms:g} / {r.receipt_p99_ms:g} | {r.server_cpu_percent:g} %"
            f" | {r.peak_rss_mib:g} |",
        ]
    )


def format_limits(results: Sequence[LimitResult]) -> str:
    """The limits part as a Markdown table."""
    lines = [
        "| limit parts/s | seconds | parts in the window | rate parts/s | deviation "
        "| busiest 1-s window | ±5 % | never above |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.limit_per_s:g} | {r.duration_s:g} | {r.parts_in_window:,} | {r.rate_per_s:g}"
            f" | {r.deviation:+.2%} | {r.busiest_second}"
            f" | {'met' if r.within_tolerance else 'missed'}"
            f" | {'met' if r.never_above else 'missed'} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run both parts and print the report."""
    args = parse_args(argv)
    print("## Machine\n")
    print(format_machine(describe_machine("(not used; Python open-loop client)")))
    payload: dict[str, Any] = {}
    try:
        if not args.skip_channel:
            print(f"\nthe channel alone: {CHANNEL_MESSAGES:,} messages …", flush=True)
            alone = run_channel(args)
            payload["channel"] = asdict(alone)
            print("\n## The channel alone\n")
            print(
                f"{alone.messages:,} one-part messages in {alone.seconds:g} s: "
                f"{alone.parts_per_s:,.0f} parts/s handed to the SMSC, {alone.receipts:,} "
                f"receipts taken, {alone.cpu_seconds:g} s of CPU",
                flush=True,
            )
        if not args.skip_throughput:
            print(f"\noffering {args.rate:g} msg/s for {args.duration:g} s …", flush=True)
            throughput = run_throughput(args)
            payload["throughput"] = asdict(throughput)
            print("\n## Throughput\n")
            print(format_throughput(throughput), flush=True)
        if not args.skip_limits:
            limits: list[LimitResult] = []
            for limit in args.limits:
                print(f"\nholding {limit:g} parts/s for {args.limit_duration:g} s …", flush=True)
                limits.append(run_limit(args, limit))
            payload["limits"] = [asdict(r) for r in limits]
            print("\n## Limits\n")
            print(format_limits(limits), flush=True)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
