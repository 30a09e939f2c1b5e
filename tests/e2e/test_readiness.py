"""GET /healthz and GET /readyz on a real `tambuli serve`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from tests.support.server import free_port, running_server

# Generous: the test waits for the server's state, it never measures how fast it comes.
STATE_TIMEOUT_SECONDS = 60.0


def _wait_for_readiness(base_url: str, status: int) -> dict[str, Any]:
    deadline = time.monotonic() + STATE_TIMEOUT_SECONDS
    while True:
        answer = httpx.get(f"{base_url}/readyz", timeout=10)
        if answer.status_code == status:
            return dict(answer.json())
        assert time.monotonic() < deadline, f"/readyz stayed {answer.status_code}: {answer.text}"
        time.sleep(0.05)


def test_a_fresh_server_is_alive_and_becomes_ready(fresh_database_url: str, tmp_path: Path) -> None:
    with running_server(fresh_database_url, tmp_path) as server:
        alive = httpx.get(f"{server.base_url}/healthz", timeout=10)
        ready = _wait_for_readiness(server.base_url, 200)
    assert alive.status_code == 200
    assert alive.json() == {"status": "ok"}
    assert ready == {"status": "ready"}


def test_an_api_only_server_is_ready_with_its_database(
    fresh_database_url: str, tmp_path: Path
) -> None:
    with running_server(fresh_database_url, tmp_path, extra_args=["--no-workers"]) as server:
        answer = httpx.get(f"{server.base_url}/readyz", timeout=10)
    assert answer.status_code == 200, answer.text


def test_a_channel_that_cannot_bind_keeps_the_server_not_ready(
    fresh_database_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "tambuli.toml"
    # Nothing listens on this port: the SMPP channel keeps trying to bind.
    config.write_text(
        f"""
[[channels]]
name = "globe-smpp"
kind = "smpp"
host = "127.0.0.1"
port = {free_port()}
system_id = "tambuli"
password_env = "GLOBE_SMPP_PASSWORD"
parts_per_second = 50

[[channels]]
name = "simulator"
kind = "simulator"

[[routes]]
name = "default"
channels = ["globe-smpp", "simulator"]
""",
        encoding="utf-8",
    )
    extra = {"TAMBULI_CONFIG": str(config), "GLOBE_SMPP_PASSWORD": "secret"}
    with running_server(fresh_database_url, tmp_path, extra) as server:
        alive = httpx.get(f"{server.base_url}/healthz", timeout=10)
        deadline = time.monotonic() + STATE_TIMEOUT_SECONDS
        while True:
            answer = httpx.get(f"{server.base_url}/readyz", timeout=10)
            if "the channels are not open yet" not in answer.text:
                break
            assert time.monotonic() < deadline, answer.text
            time.sleep(0.05)
    assert alive.status_code == 200
    assert answer.status_code == 503, answer.text
    body = answer.json()
    assert body["status"] == "not ready"
    reasons = body["reasons"]
    assert len(reasons) == 1
    assert reasons[0] in ("channel globe-smpp is connecting", "channel globe-smpp is down")
