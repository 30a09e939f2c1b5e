"""`tambuli serve` with an HTTP gateway whose receipt callback overtakes its answer to the send."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.support.cli import run_cli_json
from tests.support.polling import wait_for
from tests.support.server import running_server
from tests.support.vonage_standin import (
    API_KEY,
    API_SECRET,
    SentSms,
    receipt_fields,
    running_vonage_standin,
)

FAST = {"TAMBULI_WORKER_POLL_SECONDS": "0.05", "TAMBULI_WORKER_IDLE_POLL_SECONDS": "0.05"}
TOKEN = "early-callback-token"


def write_config(path: Path, send_url: str) -> None:
    path.write_text(
        f"""
[[channels]]
name = "vonage"
kind = "http"
preset = "vonage"
url = "{send_url}"
parts_per_second = 30
callback_token = "{TOKEN}"
secret_fields = {{ api_key = "{API_KEY}", api_secret = "{API_SECRET}" }}

[[routes]]
name = "all"
channels = ["vonage"]
""",
        encoding="utf-8",
    )


def test_a_receipt_callback_that_overtakes_the_gateways_answer_is_applied(
    fresh_database_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "tambuli.toml"
    callbacks: list[httpx.Response] = []
    with running_vonage_standin() as standin:
        write_config(config, standin.send_url)
        configured = {"TAMBULI_CONFIG": str(config)}
        org = run_cli_json(
            fresh_database_url,
            "org",
            "create",
            "--name",
            "Co-op",
            "--balance",
            "5",
            extra_env=configured,
        )
        extra = {**FAST, **configured}
        with (
            running_server(fresh_database_url, tmp_path, extra) as server,
            httpx.Client(
                base_url=server.base_url,
                headers={"Authorization": f"Token {org['token']}"},
                timeout=10,
            ) as client,
        ):

            def call_back_first(sms: SentSms) -> None:
                # The gateway reports delivery before it answers the send that it took.
                callbacks.append(
                    httpx.post(
                        f"{server.base_url}/v1/channels/vonage/receipts",
                        params={"token": TOKEN},
                        data=receipt_fields(sms),
                        timeout=10,
                    )
                )

            standin.on_accept = call_back_first
            answer = client.post(
                "/v1/sms/phonenumber",
                json={
                    "orgId": org["orgId"],
                    "from": "Tambuli",
                    "message": "Your appointment is tomorrow",
                    "fullPhoneNumber": "639171234567",
                },
            )
            assert answer.status_code == 200, answer.text
            path = f"/v1/organizations/{org['orgId']}/messages/{answer.json()['messageId']}/"

            def read() -> dict[str, Any]:
                record: dict[str, Any] = client.get(path).json()
                return record

            record = wait_for(lambda: (r := read())["deliveredToPhone"] == "confirmed" and r, 30)

    [callback] = callbacks
    assert callback.status_code == 200, callback.text
    assert callback.json() == {"received": 1, "unmatched": 1}  # kept: the send was not answered
    assert record["deliveredToTelco"]
