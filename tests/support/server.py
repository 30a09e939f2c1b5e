"""Run `tambuli serve` as a real subprocess on a free port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    """A `tambuli serve` process and how to reach it."""

    base_url: str
    database_url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    # Where stderr (the log records) went when kept apart from stdout; None: in log_path.
    stderr_path: Path | None = None

    def log(self) -> str:
        """Everything the server printed so far."""
        return self.log_path.read_text(errors="replace")

    def read_demo_organization(self) -> tuple[int, str]:
        """The orgId and token of the demo organization a first start prints."""
        lines = [line.strip() for line in self.log().splitlines()]
        org_id = next(int(line.split()[-1]) for line in lines if line.startswith("orgId:"))
        token = next(line.split()[-1] for line in lines if line.startswith("token:"))
        return org_id, token


def tambuli_command(*args: str) -> list[str]:
    """The command line that runs the `tambuli` CLI of this checkout."""
    return [sys.executable, "-m", "tambuli", *args]


@contextmanager
def running_server(
    database_url: str,
    log_dir: Path,
    extra_env: dict[str, str] | None = None,
    extra_args: Sequence[str] = (),
    separate_stderr: bool = False,
) -> Iterator[RunningServer]:
    """Start `tambuli serve` on a free port, wait until it answers, stop it afterwards.

    With `separate_stderr`, the log records (stderr) go to a file of their own, apart from
    what the server prints on stdout.
    """
    port = free_port()
    env = {**os.environ, "TAMBULI_DATABASE_URL": database_url, **(extra_env or {})}
    log_path = log_dir / f"serve-{port}.log"
    stderr_path = log_dir / f"serve-{port}.stderr.log" if separate_stderr else None
    with log_path.open("wb") as log, ExitStack() as files:
        errors = files.enter_context(stderr_path.open("wb")) if stderr_path else None
        process = subprocess.Popen(
            tambuli_command("serve", "--host", "127.0.0.1", "--port", str(port), *extra_args),
            stdout=log,
            stderr=subprocess.STDOUT if errors is None else errors,
            env=env,
        )
    server = RunningServer(f"http://127.0.0.1:{port}", database_url, process, log_path, stderr_path)
    try:
        _wait_until_ready(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_ready(server: RunningServer, timeout: float = 300.0) -> None:
    # Only a bound against a hung start: on a loaded machine, migrating a fresh PostgreSQL
    # database alone has taken more than a minute. A server that exits fails at once.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"tambuli serve exited early:\n{server.log()}")
        try:
            if httpx.get(f"{server.base_url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"tambuli serve did not answer in {timeout}s:\n{server.log()}")
