"""GET /metrics of a real `tambuli serve` (operator token) and the --metrics-port of a real
`tambuli worker`: the counters move when messages are sent, handed off and receipted."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.cli import run_cli_json
from tests.support.polling import wait_for
from tests.support.server import free_port, running_server, tambuli_command

FAST = {
    "TAMBULI_SIMULATOR_RECEIPT_DELAY": "0.2",
    "TAMBULI_WORKER_POLL_SECONDS": "0.05",
}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_metrics_count_sends_hand_offs_and_receipts_for_the_operator_only(
    fresh_database_url: str, tmp_path: Path
) -> None:
    url = fresh_database_url
    rich = run_cli_json(url, "org", "create", "--name", "Co-op", "--balance", "5")
    poor = run_cli_json(url, "org", "create", "--name", "Broke")
    operator = run_cli_json(url, "operator", "token", "create", "--note", "prometheus")["token"]
    with (
        running_server(url, tmp_path, FAST) as server,
        httpx.Client(base_url=server.base_url, timeout=10) as client,
    ):

        def scrape() -> Samples:
            answer = client.get("/metrics", headers={"Authorization": f"Token {operator}"})
            assert answer.status_code == 200, answer.text
            assert answer.headers["content-type"].startswith("text/plain")
            return _parse(answer.text)

        # An organization's token is refused: the figures span every organization.
        refused = client.get("/metrics", headers={"Authorization": f"Token {rich['token']}"})
        assert refused.status_code == 401
        assert refused.json()["error"]
        assert client.get("/metrics").status_code == 401

        before = scrape()

        def send(org: dict[str, Any], path: str = "/v1/sms/phonenumber") -> httpx.Response:
            return client.post(
                path,
                headers={"Authorization": f"Token {org['token']}"},
                json={
                    "orgId": org["orgId"],
                    "from": "COOP",
                    "message": "Meeting at 9",
                    "fullPhoneNumber": "639171234567",
                },
            )

        accepted = send(rich)
        assert accepted.status_code == 200, accepted.text
        too_poor = send(poor)
        assert too_poor.status_code == 402, too_poor.text
        # The route answers with a trailing slash too, and such a send counts the same.
        with_slash = send(poor, "/v1/sms/phonenumber/")
        assert with_slash.status_code == 402, with_slash.text
        message_path = f"/v1/organizations/{rich['orgId']}/messages/{accepted.json()['messageId']}/"
        wait_for(
            lambda: (
                client.get(
                    message_path, headers={"Authorization": f"Token {rich['token']}"}
                ).json()["deliveredToPhone"]
                == "confirmed"
            )
        )
        after = scrape()

    def moved(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert moved("tambuli_sms_sends_total", outcome="accepted", error_code="") == 1
    assert (
        moved("tambuli_sms_sends_total", outcome="refused", error_code="balance.insufficient") == 2
    )
    assert (
        moved(
            "tambuli_http_requests_total",
            method="POST",
            route="/v1/sms/phonenumber",
            status="200",
        )
        == 1
    )
    assert (
        moved(
            "tambuli_http_requests_total",
            method="POST",
            route="/v1/sms/phonenumber",
            status="402",
        )
        == 2  # one route template, with and without the slash
    )
    assert moved("tambuli_sms_handoffs_total", channel="simulator", outcome="accepted") == 1
    assert moved("tambuli_sms_receipts_total", channel="simulator", status="confirmed") == 1
    assert moved("tambuli_sms_receipt_latency_seconds_count", channel="simulator") == 1
    assert moved("tambuli_db_commit_seconds_count") > 0
    # Read from the database at scrape time: the one message is no longer waiting.
    assert _value(after, "tambuli_queue_depth", queue="messages", state="due") == 0
    assert ("tambuli_queue_depth", frozenset({("queue", "webhooks"), ("state", "due")})) in after


def test_a_worker_serves_its_metrics_on_the_metrics_port(
    fresh_database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = {**os.environ, "TAMBULI_DATABASE_URL": fresh_database_url, **FAST}
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            tambuli_command("worker", "--metrics-port", str(port)),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:

        def scrape() -> str | None:
            assert worker.poll() is None, log_path.read_text()
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
            except httpx.HTTPError:
                return None
            return answer.text if answer.status_code == 200 else None

        samples = _parse(wait_for(scrape))
    finally:
        worker.terminate()
        worker.wait(timeout=10)
    for queue in ("messages", "topups", "webhooks"):
        assert _value(samples, "tambuli_queue_depth", queue=queue, state="due") == 0
    assert ("tambuli_db_commit_seconds_count", frozenset()) in samples
