"""`tambuli serve --no-workers` takes messages; a separate `tambuli worker` delivers them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from tests.support.server import running_server, tambuli_command


def _create_org(database_url: str) -> dict[str, Any]:
    env = {**os.environ, "TAMBULI_DATABASE_URL": database_url}
    made = subprocess.run(
        tambuli_command("org", "create", "--name", "Split", "--balance", "1"),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    created: dict[str, Any] = json.loads(made.stdout)
    return created


def test_an_api_only_server_queues_and_a_worker_process_delivers(
    fresh_database_url: str, tmp_path: Path
) -> None:
    org = _create_org(fresh_database_url)
    env = {
        **os.environ,
        "TAMBULI_DATABASE_URL": fresh_database_url,
        "TAMBULI_SIMULATOR_RECEIPT_DELAY": "0.1",
    }
    with (
        running_server(fresh_database_url, tmp_path, extra_args=["--no-workers"]) as server,
        httpx.Client(
            base_url=server.base_url,
            headers={"Authorization": f"Token {org['token']}"},
            timeout=10,
        ) as client,
    ):
        sent = client.post(
            "/v1/sms/phonenumber",
            json={
                "orgId": org["orgId"],
                "from": "COOP",
                "message": "hello",
                "fullPhoneNumber": "639171234569",
            },
        ).json()
        path = f"/v1/organizations/{org['orgId']}/messages/{sent['messageId']}/"
        time.sleep(1.0)
        assert client.get(path).json()["done"] is False, "the API process delivered by itself"

        log = (tmp_path / "worker.log").open("wb")
        worker = subprocess.Popen(
            tambuli_command("worker"), env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + 30
            while client.get(path).json()["deliveredToPhone"] != "confirmed":
                assert worker.poll() is None, (tmp_path / "worker.log").read_text()
                assert time.monotonic() < deadline, "the worker did not deliver"
                time.sleep(0.1)
        finally:
            worker.send_signal(signal.SIGTERM)
            code = worker.wait(timeout=30)
            log.close()
    assert code == 0, (tmp_path / "worker.log").read_text()
