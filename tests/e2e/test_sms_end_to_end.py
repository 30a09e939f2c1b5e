"""`tambuli serve` as a subprocess: every simulator behaviour, pushes and replies, over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from tambuli.webhooks.signing import verify_webhook
from tests.support.receiver import Received, running_receiver
from tests.support.server import running_server, tambuli_command

FAST = {
    "TAMBULI_WEBHOOKS_ALLOW_PRIVATE": "1",
    "TAMBULI_SIMULATOR_RECEIPT_DELAY": "0.2",
    "TAMBULI_RETRY_BASE_SECONDS": "0.3",
    "TAMBULI_RETRY_MAX_SECONDS": "0.6",
    "TAMBULI_WORKER_POLL_SECONDS": "0.05",
    "TAMBULI_WORKER_IDLE_POLL_SECONDS": "0.05",
}


def _cli(database_url: str, *args: str) -> Any:
    env = {**os.environ, "TAMBULI_DATABASE_URL": database_url}
    result = subprocess.run(
        tambuli_command(*args), env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.strip().startswith("{") else result.stdout


def _wait(client: httpx.Client, path: str, done: Any, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        record: dict[str, Any] = client.get(path).json()
        if done(record):
            return record
        assert time.monotonic() < deadline, record
        time.sleep(0.05)


def _events(pushes: list[Received], message_id: str) -> list[str]:
    return [p.json()["event"] for p in pushes if p.json().get("id") == message_id]


def test_every_simulator_behaviour_end_to_end_with_signed_pushes_and_a_reply(
    fresh_database_url: str, tmp_path: Path
) -> None:
    url = fresh_database_url
    org = _cli(url, "org", "create", "--name", "Co-op", "--balance", "5")
    org_id = org["orgId"]
    with running_receiver() as receiver:
        # Every event, so the pushes show each step (the default pushes receipts only).
        settings = _cli(
            url,
            "org",
            "set",
            "--org",
            str(org_id),
            "--inbound-url",
            f"{receiver.url}/inbound",
            "--client-push-events",
            "all",
            "--json",
        )
        assert settings["clientPushEvents"] == "all"
        secret = _cli(url, "org", "webhook-secret", "--org", str(org_id))["webhookSecret"]
        with (
            running_server(url, tmp_path, FAST) as server,
            httpx.Client(
                base_url=server.base_url,
                headers={"Authorization": f"Token {org['token']}"},
                timeout=10,
            ) as client,
        ):
            sent: dict[str, str] = {}
            for ending in ("9999", "0001", "0002", "0003", "0004", "0005", "0006"):
                answer = client.post(
                    "/v1/sms/phonenumber",
                    json={
                        "orgId": org_id,
                        "from": "COOP",
                        "message": f"Meeting at 9 ({ending})",
                        "fullPhoneNumber": f"6391712{ending[:1]}{ending}",
                        "clientPushURL": f"{receiver.url}/sms",
                    },
                )
                assert answer.status_code == 200, answer.text
                sent[ending] = answer.json()["messageId"]
            base = f"/v1/organizations/{org_id}/messages"

            def record(ending: str, done: Any) -> dict[str, Any]:
                return _wait(client, f"{base}/{sent[ending]}/", done)

            ok = record("9999", lambda r: r["deliveredToPhone"] == "confirmed")
            assert ok["done"] and ok["deliveredToTelco"] and ok["chargedMicro"] == 20_000
            refused = record("0001", lambda r: r["done"])
            assert (refused["deliveredToTelco"], refused["error"]) == (False, "no route")
            assert refused["chargedMicro"] == 0
            retried = record("0002", lambda r: r["deliveredToPhone"] == "confirmed")
            assert retried["deliveredToTelco"] and retried["error"] == ""
            unreachable = record("0003", lambda r: r["deliveredToPhone"] == "failed")
            assert unreachable["deliveryError"] == "unreachable"
            record("0004", lambda r: r["done"])
            replied = record("0005", lambda r: r["deliveredToPhone"] == "confirmed")
            assert replied["deliveredToTelco"]
            stuck = record("0006", lambda r: r["error"] != "")
            assert not stuck["done"] and not stuck["deliveredToTelco"]

            inbound = _wait(
                client,
                f"{base}/?dir=inbound",
                lambda r: len(r["messages"]) == 1,
            )["messages"][0]
            assert (inbound["message"], inbound["sender"], inbound["direction"]) == (
                "YES",
                replied["recipient"],
                "ingress",
            )
            time.sleep(0.5)
            assert record("0004", lambda r: True)["deliveredToPhone"] == "unknown"

            pushes = receiver.wait_for(
                lambda got: (
                    len([p for p in got if p.path == "/inbound"]) == 1
                    and "receipt" in _events([p for p in got if p.path == "/sms"], sent["0005"])
                )
            )
            now = datetime.now(UTC)
            for push in pushes:
                assert verify_webhook(secret, push.headers, push.body, now), push.headers
            sms_pushes = [p for p in pushes if p.path == "/sms"]
            assert _events(sms_pushes, sent["9999"])[:1] == ["accepted"]
            assert _events(sms_pushes, sent["0001"]) == ["failed"]
            assert "receipt" in _events(sms_pushes, sent["0003"])
            assert _events(sms_pushes, sent["0006"]) == []
            inbound_push = next(p for p in pushes if p.path == "/inbound").json()
            assert inbound_push["event"] == "inbound" and inbound_push["message"] == "YES"

    inbox = _cli(url, "simulator", "inbox", "--json")
    assert isinstance(inbox, str)
    assert "6391712000" in inbox
