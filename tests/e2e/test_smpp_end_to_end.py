"""`tambuli serve` with a TAMBULI_CONFIG file routing to an SMPP channel and a foreign SMSC."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from tests.support.cli import run_cli_json
from tests.support.polling import wait_for
from tests.support.server import running_server
from tests.support.smsc import TestSmsc

FAST = {
    "TAMBULI_WORKER_POLL_SECONDS": "0.05",
    "TAMBULI_WORKER_IDLE_POLL_SECONDS": "0.05",
    "TAMBULI_RETRY_BASE_SECONDS": "0.3",
}


def write_config(path: Path, smsc: TestSmsc) -> None:
    path.write_text(
        f"""
[[channels]]
name = "globe-smpp"
kind = "smpp"
host = "127.0.0.1"
port = {smsc.port}
system_id = "tambuli"
password_env = "GLOBE_SMPP_PASSWORD"
parts_per_second = 50
window = 10
reconnect_min_seconds = 0.2

[[channels]]
name = "simulator"
kind = "simulator"
parts_per_second = 100

[[routes]]
name = "ph-globe"
prefixes = ["63917"]
channels = ["globe-smpp", "simulator"]
sender = {{ kind = "numeric", replacement = "2929" }}

[[routes]]
name = "default"
channels = ["simulator"]
""",
        encoding="utf-8",
    )


def test_messages_go_through_the_smsc_by_route_and_receipts_come_back(
    fresh_database_url: str, tmp_path: Path
) -> None:
    smsc = TestSmsc()
    smsc.start()
    config = tmp_path / "tambuli.toml"
    write_config(config, smsc)
    configured = {"TAMBULI_CONFIG": str(config), "GLOBE_SMPP_PASSWORD": "secret"}

    def cli(*args: str) -> Any:
        return run_cli_json(fresh_database_url, *args, extra_env=configured)

    try:
        channels = cli("channels", "list", "--json")
        assert [(c["name"], c["kind"], c["partsPerSecond"]) for c in channels] == [
            ("globe-smpp", "smpp", 50),
            ("simulator", "simulator", 100),
        ]
        routes = cli("routes", "list", "--json")
        assert [r["channels"] for r in routes] == [["globe-smpp", "simulator"], ["simulator"]]
        org = cli("org", "create", "--name", "Co-op", "--balance", "5")
        operator = cli("operator", "token", "create", "--note", "monitoring")
        extra = {**FAST, **configured}
        with (
            running_server(fresh_database_url, tmp_path, extra) as server,
            httpx.Client(
                base_url=server.base_url,
                headers={"Authorization": f"Token {org['token']}"},
                timeout=10,
            ) as client,
        ):
            wait_for(lambda: smsc.count_binds() == 1, timeout=20)
            sent = {}
            for number, sender in (("639171234567", "COOP"), ("639181234567", "COOP")):
                answer = client.post(
                    "/v1/sms/phonenumber",
                    json={
                        "orgId": org["orgId"],
                        "from": sender,
                        "message": "Meeting at 9 {bring ID}",
                        "fullPhoneNumber": number,
                    },
                )
                assert answer.status_code == 200, answer.text
                sent[number] = answer.json()["messageId"]
            base = f"/v1/organizations/{org['orgId']}/messages"

            def read(number: str) -> dict[str, Any]:
                record: dict[str, Any] = client.get(f"{base}/{sent[number]}/").json()
                return record

            globe = wait_for(
                lambda: (r := read("639171234567"))["deliveredToTelco"] and r, timeout=20
            )
            [pdu] = smsc.submits
            assert pdu.params["destination_addr"] == b"639171234567"
            # The route takes numeric senders only: its short code replaces "COOP".
            assert pdu.params["source_addr"] == b"2929"
            assert str(pdu.params["source_addr_ton"]) == "AddrTon.NETWORK_SPECIFIC"
            assert pdu.params["short_message"] == b"Meeting at 9 \x1b(bring ID\x1b)"
            # The Smart number took the default route to the simulator.
            smart = wait_for(
                lambda: (r := read("639181234567"))["deliveredToTelco"] and r, timeout=20
            )
            assert smart["deliveredToPhone"] in ("unknown", "confirmed")
            assert len(smsc.submits) == 1

            operator_id = "MID1"
            receipt = f"id:{operator_id} sub:001 dlvrd:001 stat:DELIVRD err:000 text:"
            answer = asyncio.run(
                smsc.deliver(
                    source_addr=b"639171234567",
                    destination_addr=b"2929",
                    esm_class=0x04,
                    short_message=receipt.encode(),
                )
            )
            assert str(answer.status) == "CommandStatus.ESME_ROK"
            confirmed = wait_for(
                lambda: (r := read("639171234567"))["deliveredToPhone"] == "confirmed" and r,
                timeout=20,
            )
            assert confirmed["done"] and globe["successPartCount"] == 1

            # The organization's token does not read it; the operator's does.
            assert client.get("/v1/status").status_code == 401
            status = client.get(
                "/v1/status", headers={"Authorization": f"Token {operator['token']}"}
            )
            assert status.status_code == 200, status.text
            by_name = {c["name"]: c for c in status.json()["channels"]}
            smpp = by_name["globe-smpp"]
            assert (smpp["kind"], smpp["state"], smpp["window"]) == ("smpp", "up", 10)
            assert (smpp["partsSent"], smpp["partsPerSecond"]) == (1, 50)
            assert by_name["simulator"]["partsSent"] == 1
            anonymous = httpx.get(f"{server.base_url}/v1/status", timeout=10)
            assert anonymous.status_code == 401
            assert anonymous.json()["error"]

            # Another process (the CLI) sees the worker's channels through channel_status.
            def reported_up() -> list[dict[str, Any]]:
                listed = {c["name"]: c for c in cli("channels", "list", "--json")}
                workers: list[dict[str, Any]] = listed["globe-smpp"]["workers"]
                return [w for w in workers if w["state"] == "up" and not w["stale"]]

            [worker] = wait_for(reported_up, timeout=15)
            assert worker["process"] == status.json()["process"]
        # A worker that stops cleanly takes its rows with it.
        listed = {c["name"]: c for c in cli("channels", "list", "--json")}
        assert listed["globe-smpp"]["workers"] == []
    finally:
        smsc.stop()
