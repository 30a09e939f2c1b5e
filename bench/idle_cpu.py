"""CPU use of idle Tambuli processes: what a deployment pays while no traffic comes.

Starts, side by side, a `tambuli serve` on a fresh SQLite file, a `tambuli serve --no-workers`
and a `tambuli worker` on another one and, on a scratch PostgreSQL database it creates and
drops again, a `tambuli serve` (with its workers), a `tambuli serve --no-workers` and a
`tambuli worker`. Once every process is up and has settled,
it reads each process's CPU time (user + system, every thread, from /proc/PID/stat) and its
context switches (every thread's, from /proc/PID/task/*/status: how often its threads woke)
at the start and the end of the window, sends nothing, and reports the share of one core each
used.

    .venv/bin/python -m bench.idle_cpu [--seconds 60]
        [--database-url postgresql://postgres@127.0.0.1:5432/tambuli_bench_idle]
        [--no-postgres] [--json-out FILE]

Database traffic goes only to 127.0.0.1. The issue's target: an idle `serve` or `worker` uses
at most 0.5 % of a core.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.api_load import (
    BenchError,
    describe_machine,
    format_machine,
    read_process_cpu_seconds,
    run_server,
    tambuli_command,
)
from bench.campaign_load import check_scratch_url, scratch_database

DEFAULT_SECONDS = 60.0
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/tambuli_bench_idle"
# After start-up (migrations, the demo organization, imports), a process settles this long
# before the window opens.
SETTLE_S = 5.0
WORKER_START_TIMEOUT_S = 60.0
WORKER_READY_MARKER = b"Tambuli worker running"
STOP_TIMEOUT_S = 15.0
TARGET_PERCENT = 0.5


@dataclass
class IdleResult:
    """What one idle process used over the window."""

    name: str
    database: str
    command: str
    seconds: float
    cpu_s: float
    cpu_percent: float
    context_switches_per_s: float


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--seconds", type=float, default=DEFAULT_SECONDS, help="length of the idle window"
    )
    parser.add_argument(
        "--database-url",
        default=DEFAULT_DATABASE_URL,
        help="a scratch PostgreSQL database on 127.0.0.1 (dropped, created, dropped again)",
    )
    parser.add_argument("--no-postgres", action="store_true", help="measure SQLite only")
    parser.add_argument("--json-out", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    if not 5 <= args.seconds <= 600:
        parser.error("--seconds must be between 5 and 600")
    args.scratch = None if args.no_postgres else check_scratch_url(args.database_url)
    return args


def read_context_switches(pid: int) -> int:
    """Voluntary plus involuntary context switches of every thread of a process."""
    total = 0
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        try:
            text = status.read_text()
        except OSError:  # the thread ended meanwhile
            continue
        for line in text.splitlines():
            if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
                total += int(line.split()[1])
    return total


@contextmanager
def run_worker(work_dir: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """A started `tambuli worker`, stopped however the block ends."""
    log_path = work_dir / "worker.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            tambuli_command("worker"), stdout=log, stderr=subprocess.STDOUT, env=env, cwd=work_dir
        )
    try:
        deadline = time.monotonic() + WORKER_START_TIMEOUT_S
        while WORKER_READY_MARKER not in log_path.read_bytes():
            if process.poll() is not None:
                raise BenchError(f"tambuli worker exited early:\n{log_path.read_text()}")
            if time.monotonic() > deadline:
                raise BenchError("tambuli worker did not start in time")
            time.sleep(0.1)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def measure_idle(processes: dict[str, int], seconds: float) -> dict[str, tuple[float, int]]:
    """CPU seconds and context switches each process used over `seconds` of nothing."""
    time.sleep(SETTLE_S)
    before = {
        n: (read_process_cpu_seconds(p), read_context_switches(p)) for n, p in processes.items()
    }
    time.sleep(seconds)
    after = {
        n: (read_process_cpu_seconds(p), read_context_switches(p)) for n, p in processes.items()
    }
    return {n: (after[n][0] - before[n][0], after[n][1] - before[n][1]) for n in processes}


def run_benchmark(args: argparse.Namespace) -> list[IdleResult]:
    """Start every process, measure them together, stop them."""
    started: dict[str, tuple[str, str, int]] = {}
    with tempfile.TemporaryDirectory(prefix="tambuli-idle-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        sqlite_dir = root / "sqlite"
        sqlite_dir.mkdir()
        sqlite_env = {**os.environ, "TAMBULI_DATABASE_URL": f"sqlite:///{sqlite_dir / 'idle.db'}"}
        server = stack.enter_context(run_server(sqlite_dir, sqlite_env))
        started["sqlite serve"] = ("sqlite", "serve", server.process.pid)
        split_dir = root / "sqlite-split"
        split_dir.mkdir()
        split_env = {**os.environ, "TAMBULI_DATABASE_URL": f"sqlite:///{split_dir / 'idle.db'}"}
        server = stack.enter_context(run_server(split_dir, split_env, "--no-workers"))
        started["sqlite serve --no-workers"] = ("sqlite", "serve --no-workers", server.process.pid)
        worker = stack.enter_context(run_worker(split_dir, split_env))
        started["sqlite worker"] = ("sqlite", "worker", worker.pid)
        if args.scratch is not None:
            url = stack.enter_context(scratch_database(args.scratch))
            pg_env = {**os.environ, "TAMBULI_DATABASE_URL": url}
            for name, serve_args in (("serve", ()), ("serve --no-workers", ("--no-workers",))):
                work_dir = root / name.replace(" ", "").replace("-", "")
                work_dir.mkdir()
                server = stack.enter_context(run_server(work_dir, pg_env, *serve_args))
                started[f"postgresql {name}"] = ("postgresql", name, server.process.pid)
            worker_dir = root / "worker"
            worker_dir.mkdir()
            worker = stack.enter_context(run_worker(worker_dir, pg_env))
            started["postgresql worker"] = ("postgresql", "worker", worker.pid)
        print(
            f"{len(started)} processes up; settling {SETTLE_S:g} s, then {args.seconds:g} s idle",
            flush=True,
        )
        used = measure_idle({n: pid for n, (_, _, pid) in started.items()}, args.seconds)
    return [
        IdleResult(
            name=name,
            database=database,
            command=command,
            seconds=args.seconds,
            cpu_s=round(used[name][0], 3),
            cpu_percent=round(100 * used[name][0] / args.seconds, 2),
            context_switches_per_s=round(used[name][1] / args.seconds, 1),
        )
        for name, (database, command, _) in started.items()
    ]


def format_table(results: Sequence[IdleResult]) -> str:
    """The results as a Markdown table."""
    lines = [
        "| database | process | CPU s over the window | % of a core | context switches/s |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r.database} | `tambuli {r.command}` | {r.cpu_s:.2f} of {r.seconds:g} "
            f"| {r.cpu_percent:.2f} | {r.context_switches_per_s:,.1f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Measure and print the report."""
    args = parse_args(argv)
    print("## Machine\n")
    print(format_machine(describe_machine("(not used)")), flush=True)
    try:
        results = run_benchmark(args)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("\n## Results\n")
    print(format_table(results))
    over = [r.name for r in results if r.cpu_percent > TARGET_PERCENT]
    print(
        f"\nTarget ≤ {TARGET_PERCENT:g} % of a core: "
        + ("MISSED by " + ", ".join(over) if over else "met")
    )
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
