"""Load-test the API of one `tambuli serve` process on SQLite, using wrk.

Scenarios: `create` (POST a contact), `get` (GET a contact), `sms` (POST /v1/sms/phonenumber,
each request to a number of its own). Starts the server on a fresh SQLite file in a temporary
directory on a free 127.0.0.1 port, with its delivery workers and the simulator, creates an
organization with the CLI, runs wrk for each scenario at each concurrency, samples the server's
memory, stops the server and prints a Markdown table.

    .venv/bin/python bench/api_load.py [--quick] [--duration S] [--concurrency 16,64]
        [--scenarios create,get,sms] [--threads N] [--json-out FILE] [--server-log FILE]
        [--check-targets]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

# Load is only ever sent to this machine's loopback address.
HOST = "127.0.0.1"
BENCH_DIR = Path(__file__).resolve().parent
WRK_DIR = BENCH_DIR / "wrk"
REPO_ROOT = BENCH_DIR.parent
DEFAULT_DURATION_S = 15.0
QUICK_DURATION_S = 3.0
DEFAULT_CONCURRENCY = (16, 64)
DEFAULT_THREADS = 2
# Generous, so slow answers show up as latency rather than as wrk timeouts.
WRK_TIMEOUT_S = 10
SERVER_START_TIMEOUT_S = 60.0
SERVER_STOP_TIMEOUT_S = 15.0
RSS_SAMPLE_INTERVAL_S = 0.5
# Of 200% on two cores; above this, something else was competing with the server and wrk.
OTHER_CPU_WARNING_PERCENT = 15.0
# The get scenarios need enough distinct contacts that they do not all hit one row.
MIN_GET_IDS = 2_000
# Seven free digits after 63917: sequence numbers must stay below this to be unique.
PHONE_SEQUENCE_LIMIT = 10_000_000
MARKER = "BENCH_RESULT "
# Lines that begin a server log entry: granian's "[LEVEL]", the logging module's timestamp,
# SQLAlchemy's "LEVEL - timestamp" and a Python warning's "file:line: SomeWarning:".
LOG_ENTRY_START = re.compile(
    r"^(\[[A-Z]+\] |\d{4}-\d\d-\d\d \d\d:\d\d:\d\d|[A-Z]+ - \d{4}-|\S+:\d+: \w*Warning:)"
)
LOG_ERROR_START = re.compile(
    r"^(\[(ERROR|CRITICAL)\] |(ERROR|CRITICAL) - \d{4}-.*|\S+:\d+: \w*Warning:|Traceback)|"
    r"^\d{4}-\S+ \S+ (ERROR|CRITICAL) "
)
# Entries from handlers cancelled by the server's own shutdown; reported, not a failed run.
CANCELLATION_MARKERS = ("CancelledError", "non-checked-in connection")
# wrk leaves up to one request per connection in flight when it stops; the pause lets the
# server finish them so they neither spill into the next scenario nor get cut off at SIGTERM.
SETTLE_S = 1.0
INSTALL_HINT = (
    "wrk is not installed. Install it with:\n"
    "  sudo apt-get update && sudo apt-get install -y wrk    (Debian/Ubuntu)\n"
    "  brew install wrk                                      (macOS)"
)


class BenchError(Exception):
    """A benchmark run that cannot go on."""


@dataclass(frozen=True)
class Target:
    """A goal from the issue for one scenario at one concurrency."""

    scenario: str
    concurrency: int
    min_req_per_s: float
    max_p99_ms: float | None = None


SCENARIOS = ("create", "get", "sms")
TARGETS = (
    Target("create", 64, min_req_per_s=2_000, max_p99_ms=50.0),
    Target("get", 64, min_req_per_s=5_000),
    Target("sms", 16, min_req_per_s=0, max_p99_ms=50.0),
    Target("sms", 64, min_req_per_s=2_000, max_p99_ms=150.0),
)


@dataclass(frozen=True)
class Organization:
    """The organization whose contacts the load creates and reads."""

    org_id: int
    token: str


@dataclass
class ScenarioResult:
    """What one wrk run measured, plus the server's and wrk's CPU use during it."""

    scenario: str
    concurrency: int
    threads: int
    duration_s: float
    requests: int
    req_per_s: float
    latency_ms: dict[str, float]
    non_2xx: int
    socket_errors: dict[str, int]
    statuses: dict[str, int]
    server_cpu_percent: float
    wrk_cpu_percent: float
    # CPU that neither the server nor wrk used: other load that makes the numbers unreliable.
    other_cpu_percent: float
    server_peak_rss_mib: float
    # Error entries the server logged during the scenario, by kind.
    server_log_errors: dict[str, int]

    def error_count(self) -> int:
        """Non-2xx answers plus connect, read, write and timeout errors."""
        return self.non_2xx + sum(self.socket_errors.values())


@dataclass
class Measurements:
    """Everything a run measured, filled in as it goes so a failed run keeps what it has."""

    results: list[ScenarioResult] = field(default_factory=list)
    peak_rss_kib: int = 0
    rss_samples: int = 0
    # Where the server's log stood when the scenarios ended, to tell shutdown errors apart.
    stop_log_offset: int = 0


@dataclass
class RssSampler:
    """Samples VmRSS of a process every half second in a background thread."""

    pid: int
    peak_kib: int = 0
    window_peak_kib: int = 0
    samples: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        """Start sampling."""
        self._thread = threading.Thread(target=self._sample_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop sampling and wait for the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def reset_window(self) -> None:
        """Start a new per-scenario peak."""
        self.window_peak_kib = 0
        self.sample_rss()

    def sample_rss(self) -> None:
        """Read VmRSS once; a process that is gone leaves the peaks as they are."""
        rss = read_proc_status_kib(self.pid, "VmRSS")
        if rss is None:
            return
        self.samples += 1
        self.peak_kib = max(self.peak_kib, rss)
        self.window_peak_kib = max(self.window_peak_kib, rss)

    def _sample_forever(self) -> None:
        """Sample until stop() is called."""
        while not self._stop.wait(RSS_SAMPLE_INTERVAL_S):
            self.sample_rss()


@dataclass
class Server:
    """A running `tambuli serve` process."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    exit_code: int | None = None

    def read_log(self, start: int = 0, end: int | None = None) -> str:
        """What the server printed so far, between two byte offsets."""
        with self.log_path.open("rb") as log:
            log.seek(start)
            raw = log.read() if end is None else log.read(max(0, end - start))
        return raw.decode(errors="replace")

    def measure_log_size(self) -> int:
        """How many bytes the server has logged so far."""
        return self.log_path.stat().st_size


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(
        description="API load test against `tambuli serve` on SQLite (uses wrk)."
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        help=f"seconds per scenario (default {DEFAULT_DURATION_S:g}, {QUICK_DURATION_S:g} with "
        "--quick)",
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"smoke run: {QUICK_DURATION_S:g} s per scenario"
    )
    parser.add_argument(
        "--concurrency",
        type=parse_int_list,
        default=list(DEFAULT_CONCURRENCY),
        help="comma-separated open connections per scenario (default 16,64)",
    )
    parser.add_argument(
        "--scenarios",
        type=parse_scenario_list,
        default=list(SCENARIOS),
        help="comma-separated scenarios to run, in order: create, get, sms (default all)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=DEFAULT_THREADS,
        help=f"wrk threads; few, since wrk shares the machine (default {DEFAULT_THREADS})",
    )
    parser.add_argument("--json-out", type=Path, help="also write the results as JSON here")
    parser.add_argument("--server-log", type=Path, help="keep the server's log in this file")
    parser.add_argument(
        "--check-targets",
        action="store_true",
        help="exit 1 when a target from the issue is missed (errors always exit 1)",
    )
    args = parser.parse_args(argv)
    if args.duration is None:
        args.duration = QUICK_DURATION_S if args.quick else DEFAULT_DURATION_S
    if not 1 <= args.duration <= 600:
        parser.error("--duration must be between 1 and 600 seconds")
    if args.threads < 1:
        parser.error("--threads must be at least 1")
    return args


def parse_int_list(text: str) -> list[int]:
    """Parse "16,64" into [16, 64], each between 1 and 1024."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a list of whole numbers: {text!r}") from exc
    if not values or any(not 1 <= v <= 1024 for v in values):
        raise argparse.ArgumentTypeError("concurrency values must be between 1 and 1024")
    return values


def parse_scenario_list(text: str) -> list[str]:
    """Parse "create,get,sms" into a list of known scenario names."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [n for n in names if n not in SCENARIOS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"scenarios are {', '.join(SCENARIOS)}, got {text!r}")
    return names


def check_wrk_installed() -> str:
    """Return wrk's version line, or fail with how to install it."""
    if shutil.which("wrk") is None:
        raise BenchError(INSTALL_HINT)
    # wrk has no version flag of its own; any unknown flag prints the version and usage.
    shown = subprocess.run(
        ["wrk", "--version"], capture_output=True, text=True, timeout=10, check=False
    )
    lines = (shown.stdout + shown.stderr).splitlines()
    return lines[0].strip() if lines else "wrk (version unknown)"


def read_proc_status_kib(pid: int, key: str) -> int | None:
    """One "kB" line of /proc/<pid>/status, or None when the process is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return None


def read_process_cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds a process has used, from /proc/<pid>/stat."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # The command name may hold spaces, so fields are counted after its closing bracket.
    fields = text.rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def read_machine_busy_cpu_seconds() -> float:
    """CPU seconds all cores have spent busy since boot, from /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    # user nice system idle iowait irq softirq steal: everything but idle and iowait is busy.
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def measure_busy_cpu_percent(seconds: float) -> float:
    """How busy the whole machine is over a short pause, in percent of one core."""
    before = read_machine_busy_cpu_seconds()
    time.sleep(seconds)
    return 100 * (read_machine_busy_cpu_seconds() - before) / seconds


def read_children_cpu_seconds() -> float:
    """CPU seconds used by child processes this process has already waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def describe_machine(wrk_version: str) -> dict[str, Any]:
    """What the results were measured on, so they can be recorded together."""
    cpu_model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
                break
    except OSError:
        pass
    try:
        tambuli_version = metadata.version("tambuli")
    except metadata.PackageNotFoundError:
        tambuli_version = "unknown"
    load_1m, load_5m, load_15m = os.getloadavg()
    return {
        "cpu_model": cpu_model,
        "cpu_count": os.cpu_count() or 0,
        "usable_cpus": len(os.sched_getaffinity(0)),
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "kernel": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "sqlite": sqlite3.sqlite_version,
        "wrk": wrk_version,
        "tambuli": tambuli_version,
        "git_commit": read_git_commit(),
        "load_average_at_start": [round(load_1m, 2), round(load_5m, 2), round(load_15m, 2)],
    }


def read_git_commit() -> str:
    """The checkout's commit, marked "-dirty" when it has changes; "unknown" without git."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        changes = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("-dirty" if changes else "")


def find_free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def tambuli_command(*args: str) -> list[str]:
    """The command line running this checkout's `tambuli` CLI."""
    return [sys.executable, "-m", "tambuli", *args]


def start_server(work_dir: Path, env: dict[str, str], *serve_args: str) -> Server:
    """Start `tambuli serve` on a free port, logging to a file in work_dir."""
    port = find_free_port()
    log_path = work_dir / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            tambuli_command("serve", "--host", HOST, "--port", str(port), *serve_args),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=work_dir,
        )
    return Server(process=process, port=port, log_path=log_path)


def request_json(
    port: int, method: str, path: str, token: str | None = None, body: Any = None
) -> tuple[int, Any]:
    """One HTTP request to the server; returns the status and the decoded JSON body."""
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Token {token}"
    payload = None if body is None else json.dumps(body).encode()
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        connection.request(method, path, body=payload, headers=headers)
        answer = connection.getresponse()
        raw = answer.read()
    finally:
        connection.close()
    try:
        return answer.status, json.loads(raw) if raw else None
    except ValueError:
        return answer.status, raw.decode(errors="replace")


def wait_for_health(server: Server) -> None:
    """Wait until GET /healthz answers 200, failing if the server exits or takes too long."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise BenchError(f"tambuli serve exited early:\n{server.read_log()}")
        try:
            status, _ = request_json(server.port, "GET", "/healthz")
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise BenchError(f"tambuli serve did not answer in {SERVER_START_TIMEOUT_S:g}s")


def stop_server(server: Server) -> None:
    """SIGTERM the server and wait for it; SIGKILL only if it does not stop in time."""
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=SERVER_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            print(f"server ignored SIGTERM for {SERVER_STOP_TIMEOUT_S:g}s; killing it")
            server.process.kill()
            server.process.wait()
    server.exit_code = server.process.returncode


@contextmanager
def run_server(work_dir: Path, env: dict[str, str], *serve_args: str) -> Iterator[Server]:
    """A started and healthy server that is stopped however the block ends."""
    server = start_server(work_dir, env, *serve_args)
    try:
        wait_for_health(server)
        yield server
    finally:
        stop_server(server)


@contextmanager
def run_worker_process(enabled: bool, work_dir: Path, env: dict[str, str]) -> Iterator[None]:
    """When enabled, a `tambuli worker` beside a `serve --no-workers` until the block ends."""
    if not enabled:
        yield
        return
    with (work_dir / "worker.log").open("wb") as log:
        process = subprocess.Popen(
            tambuli_command("worker"), stdout=log, stderr=subprocess.STDOUT, env=env, cwd=work_dir
        )
    try:
        yield
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=SERVER_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def create_organization(env: dict[str, str], work_dir: Path) -> Organization:
    """Create the benchmark's organization with `tambuli org create`."""
    made = subprocess.run(
        # Enough money for every SMS a run can send at 0.02 USD a part.
        tambuli_command("org", "create", "--name", "Bench", "--balance", "1000000"),
        env=env,
        cwd=work_dir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if made.returncode != 0:
        raise BenchError(f"tambuli org create failed:\n{made.stdout}{made.stderr}")
    created = json.loads(made.stdout.strip().splitlines()[-1])
    return Organization(org_id=int(created["orgId"]), token=str(created["token"]))


def contacts_path(org: Organization) -> str:
    """The contacts collection path of the organization, with its trailing slash."""
    return f"/v1/organizations/{org.org_id}/contacts/"


def seed_contacts(port: int, org: Organization, count: int, phone_base: int) -> list[str]:
    """Create contacts one by one over one connection; returns their IDs."""
    ids: list[str] = []
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    headers = {"Content-Type": "application/json", "Authorization": f"Token {org.token}"}
    try:
        for sequence in range(phone_base, phone_base + count):
            body = {"fullPhoneNumber": f"63917{sequence:07d}", "firstName": "Seed"}
            connection.request("POST", contacts_path(org), json.dumps(body), headers)
            answer = connection.getresponse()
            raw = answer.read()
            if answer.status != 200:
                raise BenchError(f"seeding a contact answered {answer.status}: {raw[:500]!r}")
            ids.append(str(json.loads(raw)["id"]))
    finally:
        connection.close()
    return ids


def run_wrk(
    script: str, concurrency: int, threads: int, duration_s: float, port: int, env: dict[str, str]
) -> dict[str, Any]:
    """Run wrk with a script from bench/wrk and return the JSON its done() printed."""
    command = [
        "wrk",
        "-t",
        str(threads),
        "-c",
        str(concurrency),
        "-d",
        f"{duration_s:g}s",
        "--timeout",
        f"{WRK_TIMEOUT_S}s",
        "--latency",
        "-s",
        str(WRK_DIR / script),
        f"http://{HOST}:{port}/",
    ]
    ran = subprocess.run(
        command,
        env={**os.environ, **env, "TAMBULI_BENCH_WRK_DIR": str(WRK_DIR)},
        capture_output=True,
        text=True,
        timeout=duration_s + 60,
        check=False,
    )
    for line in ran.stdout.splitlines():
        if line.startswith(MARKER):
            result: dict[str, Any] = json.loads(line[len(MARKER) :])
            return result
    raise BenchError(
        f"wrk exited {ran.returncode} without a result:\n{ran.stdout}\n{ran.stderr}".rstrip()
    )


def measure_scenario(
    scenario: str,
    concurrency: int,
    args: argparse.Namespace,
    server: Server,
    sampler: RssSampler,
    env: dict[str, str],
) -> tuple[ScenarioResult, dict[str, Any]]:
    """Run one wrk scenario and combine its numbers with the server's CPU and memory."""
    threads = min(args.threads, concurrency)
    sampler.reset_window()
    log_offset = server.measure_log_size()
    server_cpu_before = read_process_cpu_seconds(server.process.pid)
    wrk_cpu_before = read_children_cpu_seconds()
    busy_before = read_machine_busy_cpu_seconds()
    raw = run_wrk(
        f"{scenario}.lua",
        concurrency,
        threads,
        args.duration,
        server.port,
        {**env, "TAMBULI_BENCH_THREADS": str(threads)},
    )
    server_cpu = read_process_cpu_seconds(server.process.pid) - server_cpu_before
    wrk_cpu = read_children_cpu_seconds() - wrk_cpu_before
    other_cpu = read_machine_busy_cpu_seconds() - busy_before - server_cpu - wrk_cpu
    sampler.sample_rss()
    time.sleep(SETTLE_S)
    log_errors = find_server_errors(server.read_log(log_offset))
    duration_s = raw["duration_us"] / 1e6
    latency = {key: value / 1000 for key, value in raw["latency_us"].items()}
    result = ScenarioResult(
        scenario=scenario,
        concurrency=concurrency,
        threads=threads,
        duration_s=round(duration_s, 3),
        requests=int(raw["requests"]),
        req_per_s=round(raw["requests"] / duration_s, 1),
        latency_ms={key: round(value, 3) for key, value in latency.items()},
        non_2xx=int(raw["non_2xx"]),
        socket_errors={
            key: int(raw["errors"][key]) for key in ("connect", "read", "write", "timeout")
        },
        statuses={str(k): int(v) for k, v in raw["statuses"].items()},
        server_cpu_percent=round(100 * server_cpu / duration_s, 1),
        wrk_cpu_percent=round(100 * wrk_cpu / duration_s, 1),
        other_cpu_percent=round(max(0.0, 100 * other_cpu / duration_s), 1),
        server_peak_rss_mib=round(sampler.window_peak_kib / 1024, 1),
        server_log_errors=count_server_errors(log_errors),
    )
    return result, raw


def run_scenarios(
    args: argparse.Namespace,
    server: Server,
    org: Organization,
    work_dir: Path,
    measured: Measurements,
) -> None:
    """Run the create scenarios, then the get scenarios over the contacts they made."""
    sampler = RssSampler(server.process.pid)
    sampler.start()
    base_env = {
        "TAMBULI_BENCH_PATH": contacts_path(org),
        "TAMBULI_BENCH_TOKEN": org.token,
        "TAMBULI_BENCH_ORG": str(org.org_id),
    }
    phone_base = 0
    ids: list[str] = []
    try:
        for scenario in args.scenarios:
            for concurrency in args.concurrency:
                env = dict(base_env)
                ids_file = work_dir / f"ids-{scenario}-c{concurrency}.txt"
                if scenario in ("create", "sms"):
                    env["TAMBULI_BENCH_PHONE_BASE"] = str(phone_base)
                    env["TAMBULI_BENCH_IDS_OUT"] = str(ids_file)
                else:
                    missing = MIN_GET_IDS - len(ids)
                    if missing > 0:
                        print(f"seeding {missing} contacts for the get scenarios", flush=True)
                        ids += seed_contacts(server.port, org, missing, phone_base)
                        phone_base += missing
                    ids_file.write_text("\n".join(ids) + "\n")
                    env["TAMBULI_BENCH_IDS_IN"] = str(ids_file)
                print(f"running {scenario} c{concurrency} for {args.duration:g}s …", flush=True)
                result, raw = measure_scenario(scenario, concurrency, args, server, sampler, env)
                if scenario in ("create", "sms"):
                    phone_base += int(raw["generated"])
                if scenario == "create":
                    ids += ids_file.read_text().split()
                    if phone_base >= PHONE_SEQUENCE_LIMIT:
                        print("warning: phone numbers wrapped around and are no longer unique")
                measured.results.append(result)
                print(f"  {summarise_result(result)}", flush=True)
                if server.process.poll() is not None:
                    raise BenchError(f"tambuli serve died during {scenario} c{concurrency}")
    finally:
        sampler.sample_rss()
        sampler.stop()
        # VmHWM is the kernel's own peak, so it also covers spikes between samples.
        hwm = read_proc_status_kib(server.process.pid, "VmHWM") or 0
        measured.peak_rss_kib = max(sampler.peak_kib, hwm)
        measured.rss_samples = sampler.samples
        measured.stop_log_offset = server.measure_log_size()


def summarise_result(result: ScenarioResult) -> str:
    """One progress line for a finished scenario."""
    return (
        f"{result.req_per_s:,.0f} req/s, p50 {result.latency_ms['p50']:.1f} ms, "
        f"p99 {result.latency_ms['p99']:.1f} ms, {result.requests:,} requests, "
        f"{result.error_count()} failed requests, "
        f"{sum(result.server_log_errors.values())} server log errors"
    )


def evaluate_targets(results: Sequence[ScenarioResult]) -> list[dict[str, Any]]:
    """Compare the results with the issue's targets that the run covered."""
    checks: list[dict[str, Any]] = []
    for target in TARGETS:
        found = [
            r
            for r in results
            if r.scenario == target.scenario and r.concurrency == target.concurrency
        ]
        if not found:
            continue
        result = found[0]
        goal = f"{target.scenario} c{target.concurrency}: ≥ {target.min_req_per_s:,.0f} req/s"
        met = result.req_per_s >= target.min_req_per_s
        if target.max_p99_ms is not None:
            goal += f", p99 ≤ {target.max_p99_ms:g} ms"
            met = met and result.latency_ms["p99"] <= target.max_p99_ms
        met = met and result.error_count() == 0
        checks.append({"target": goal, "met": met})
    return checks


def format_table(results: Sequence[ScenarioResult]) -> str:
    """The results as a Markdown table."""
    lines = [
        "| scenario | concurrency | req/s | p50 ms | p99 ms | non-2xx | socket errors "
        "| server log errors | server CPU % | wrk CPU % | other CPU % |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r.scenario} | {r.concurrency} | {r.req_per_s:,.0f} | {r.latency_ms['p50']:.2f} "
            f"| {r.latency_ms['p99']:.2f} | {r.non_2xx} | {sum(r.socket_errors.values())} "
            f"| {sum(r.server_log_errors.values())} | {r.server_cpu_percent:.0f} "
            f"| {r.wrk_cpu_percent:.0f} | {r.other_cpu_percent:.0f} |"
        )
    return "\n".join(lines)


def format_machine(machine: dict[str, Any]) -> str:
    """The machine description as Markdown bullet points."""
    load = ", ".join(f"{v:.2f}" for v in machine["load_average_at_start"])
    return "\n".join(
        [
            f"- CPU: {machine['cpu_model']} ({machine['cpu_count']} cores, "
            f"{machine['usable_cpus']} usable)",
            f"- Memory: {machine['memory_gib']} GiB",
            f"- Kernel: {machine['kernel']}",
            f"- Python: {machine['python']}; SQLite: {machine['sqlite']}",
            f"- Load generator: {machine['wrk']}",
            f"- Tambuli: {machine['tambuli']} (commit {machine['git_commit']})",
            f"- Load average at start: {load}",
        ]
    )


def find_server_errors(log: str) -> list[str]:
    """The error and warning entries the server logged, each with its whole traceback."""
    entries: list[list[str]] = []
    current: list[str] | None = None
    for line in log.splitlines():
        starts_entry = LOG_ENTRY_START.match(line) is not None
        # A traceback printed without a log line first is an uncaught crash; keep it too.
        if LOG_ERROR_START.match(line) and (starts_entry or current is None):
            current = [line]
            entries.append(current)
        elif starts_entry:
            current = None
        elif current is not None:
            current.append(line)
    return ["\n".join(entry).rstrip() for entry in entries]


def is_cancellation(entry: str) -> bool:
    """Whether a server log entry comes from a request the client abandoned."""
    return any(marker in entry for marker in CANCELLATION_MARKERS)


def name_server_error(entry: str) -> str:
    """A short name for a log entry: its exception line, or its first line."""
    lines = entry.splitlines()
    if len(lines) > 1 and lines[-1].strip() and not lines[-1].startswith(" "):
        return lines[-1].strip()[:200]
    return lines[0].strip()[:200]


def count_server_errors(entries: Sequence[str]) -> dict[str, int]:
    """How often each distinct kind of log entry occurred."""
    counts: dict[str, int] = {}
    for entry in entries:
        name = name_server_error(entry)
        counts[name] = counts.get(name, 0) + 1
    return counts


def summarise_server_errors(entries: Sequence[str]) -> str:
    """The kinds of log entries with their counts, then the first entry in full."""
    kinds = "\n".join(f"  {n} × {name}" for name, n in count_server_errors(entries).items())
    return f"{len(entries)} entries:\n{kinds}\nThe first in full:\n{entries[0]}"


def write_json(path: Path, report: dict[str, Any]) -> None:
    """Write the full report as indented JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")


def run_benchmark(args: argparse.Namespace) -> int:
    """Run the whole benchmark and print its report; returns the exit code."""
    wrk_version = check_wrk_installed()
    machine = describe_machine(wrk_version)
    print("## Machine\n")
    print(format_machine(machine))
    idle_busy = measure_busy_cpu_percent(1.0)
    if idle_busy > OTHER_CPU_WARNING_PERCENT:
        print(
            f"\nwarning: the machine is already {idle_busy:.0f}% busy before the server starts; "
            "the numbers may be lower than usual (see the other CPU % column)"
        )
    print(
        f"\nscenarios {','.join(args.scenarios)} at concurrency "
        f"{','.join(map(str, args.concurrency))}, {args.duration:g}s each, "
        f"wrk -t{args.threads}\n",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="tambuli-bench-") as tmp:
        work_dir = Path(tmp)
        env = {**os.environ, "TAMBULI_DATABASE_URL": f"sqlite:///{work_dir / 'bench.db'}"}
        org = create_organization(env, work_dir)
        run_log = shutdown_log = ""
        failure: str | None = None
        measured = Measurements()
        server: Server | None = None
        try:
            with run_server(work_dir, env) as server:
                run_scenarios(args, server, org, work_dir, measured)
        except BenchError as exc:
            failure = str(exc)
        finally:
            if server is not None:
                run_log = server.read_log(0, measured.stop_log_offset)
                shutdown_log = server.read_log(measured.stop_log_offset)
    run_errors = find_server_errors(run_log)
    shutdown_errors = find_server_errors(shutdown_log)
    if args.server_log:
        args.server_log.parent.mkdir(parents=True, exist_ok=True)
        args.server_log.write_text(run_log + shutdown_log)
    exit_code = None if server is None else server.exit_code
    results = measured.results
    peak_rss_mib = round(measured.peak_rss_kib / 1024, 1)
    checks = evaluate_targets(results)
    errors = sum(r.error_count() for r in results)

    print("\n## Results\n")
    print(format_table(results))
    print(
        f"\nServer peak RSS: {peak_rss_mib} MiB (VmHWM and {measured.rss_samples} "
        f"VmRSS samples every {RSS_SAMPLE_INTERVAL_S:g}s)"
    )
    print(f"Server exit code after SIGTERM: {exit_code}")
    busy = [r for r in results if r.other_cpu_percent > OTHER_CPU_WARNING_PERCENT]
    if busy:
        print(
            f"warning: other processes used over {OTHER_CPU_WARNING_PERCENT:g}% CPU during "
            f"{', '.join(f'{r.scenario} c{r.concurrency}' for r in busy)}; rerun on a quiet machine"
        )
    for check in checks:
        print(f"Target {check['target']}: {'met' if check['met'] else 'MISSED'}")
    problems: list[str] = []
    if failure:
        problems.append(failure)
    if errors:
        problems.append(f"{errors} requests failed (non-2xx or socket errors); see the table")
        for r in results:
            if r.error_count():
                problems.append(
                    f"{r.scenario} c{r.concurrency}: statuses {r.statuses}, "
                    f"socket errors {r.socket_errors}"
                )
    crashes = run_errors + [e for e in shutdown_errors if not is_cancellation(e)]
    cancellations = [e for e in shutdown_errors if is_cancellation(e)]
    if crashes:
        problems.append(f"the server logged errors: {summarise_server_errors(crashes)}")
    if cancellations:
        print(
            "\nNote: on SIGTERM the server cancelled requests still running and logged "
            f"{summarise_server_errors(cancellations)}"
        )
    if exit_code not in (0, None):
        problems.append(f"the server exited with code {exit_code}")
    for problem in problems:
        print(f"\nPROBLEM: {problem}")

    if args.json_out:
        write_json(
            args.json_out,
            {
                "machine": machine,
                "config": {
                    "duration_s": args.duration,
                    "concurrency": args.concurrency,
                    "scenarios": args.scenarios,
                    "wrk_threads": args.threads,
                    "wrk_timeout_s": WRK_TIMEOUT_S,
                    "database": "sqlite",
                },
                "results": [asdict(r) for r in results],
                "server_peak_rss_mib": peak_rss_mib,
                "server_exit_code": exit_code,
                "targets": checks,
                "problems": problems,
            },
        )
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
