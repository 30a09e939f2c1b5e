"""TAMBULI_LOG_FORMAT=json: a real `tambuli serve` writes one JSON object per log line."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx

from tests.support.cli import run_cli, run_cli_json
from tests.support.server import RunningServer, free_port, running_server

FAST = {
    "TAMBULI_LOG_FORMAT": "json",
    "TAMBULI_WEBHOOKS_ALLOW_PRIVATE": "1",
    "TAMBULI_RETRY_BASE_SECONDS": "0.3",
    "TAMBULI_WORKER_POLL_SECONDS": "0.05",
}


def _log_lines(server: RunningServer) -> list[str]:
    assert server.stderr_path is not None
    return [line for line in server.stderr_path.read_text().splitlines() if line.strip()]


def test_json_log_lines_name_the_organization_of_a_failed_push(
    fresh_database_url: str, tmp_path: Path
) -> None:
    org = run_cli_json(fresh_database_url, "org", "create", "--name", "Co-op", "--balance", "5")
    # Nobody listens there: the push of the message's events fails, and says so in the log.
    push_url = f"http://127.0.0.1:{free_port()}/sms"
    with running_server(fresh_database_url, tmp_path, FAST, separate_stderr=True) as server:
        answer = httpx.post(
            f"{server.base_url}/v1/sms/phonenumber",
            headers={"Authorization": f"Token {org['token']}"},
            json={
                "orgId": org["orgId"],
                "from": "COOP",
                "message": "Meeting at 9",
                "fullPhoneNumber": "639171234567",
                "clientPushURL": push_url,
            },
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        deadline = time.monotonic() + 60
        while not any("push" in line and "failed" in line for line in _log_lines(server)):
            assert time.monotonic() < deadline, server.stderr_path
            time.sleep(0.05)
    lines = _log_lines(server)
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all(isinstance(r, dict) for r in records)
    for record in records:
        assert {"timestamp", "level", "logger", "message"} <= record.keys(), record
        assert record["timestamp"].endswith("+00:00"), record
    [failed_push, *_] = [r for r in records if r["logger"] == "tambuli.webhooks"]
    assert failed_push["level"] == "INFO"
    assert failed_push["orgId"] == org["orgId"]
    assert push_url in failed_push["message"]
    # The shutdown line too: the process logs through the same formatter to its end.
    assert any(r["message"].startswith("database write transactions") for r in records)


def test_the_text_format_stays_the_default(fresh_database_url: str, tmp_path: Path) -> None:
    env = {k: v for k, v in FAST.items() if k != "TAMBULI_LOG_FORMAT"}
    with running_server(fresh_database_url, tmp_path, env, separate_stderr=True) as server:
        pass
    lines = _log_lines(server)
    assert lines
    assert not any(line.startswith("{") for line in lines)


def test_an_unknown_log_format_is_refused_at_start(fresh_database_url: str) -> None:
    result = run_cli(
        fresh_database_url,
        "serve",
        "--port",
        str(free_port()),
        extra_env={"TAMBULI_LOG_FORMAT": "xml"},
    )
    assert result.returncode == 1
    assert "TAMBULI_LOG_FORMAT" in result.stderr
