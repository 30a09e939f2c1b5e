"""A send with "from": null, as engageSPARK's published clients make it, on a real server.

The sender is the request's, else the organization's default, else TAMBULI_DEFAULT_SENDER_ID.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.support.cli import run_cli, run_cli_json
from tests.support.polling import wait_for
from tests.support.server import running_server

FAST = {"TAMBULI_WORKER_POLL_SECONDS": "0.05", "TAMBULI_WORKER_IDLE_POLL_SECONDS": "0.05"}


def _send_without_sender(server_url: str, org: dict[str, Any], number: str) -> httpx.Response:
    return httpx.post(
        f"{server_url}/v1/sms/phonenumber",
        headers={"Authorization": f"Token {org['token']}"},
        json={"orgId": org["orgId"], "from": None, "message": "Hello", "fullPhoneNumber": number},
        timeout=10,
    )


def _sender_seen_by_the_operator(url: str, number: str) -> str:
    def look() -> str:
        found = run_cli_json(url, "simulator", "inbox", "--number", number, "--json")
        return str(found[0]["sender"]) if found else ""

    return str(wait_for(look))


def test_from_null_uses_the_organizations_sender_else_the_servers_else_is_refused(
    fresh_database_url: str, tmp_path: Path
) -> None:
    url = fresh_database_url
    with running_server(url, tmp_path, FAST) as server:
        demo_id, demo_token = server.read_demo_organization()
        demo = {"orgId": demo_id, "token": demo_token}
        coop = run_cli_json(
            url, "org", "create", "--name", "Co-op", "--balance", "5", "--sender-id", "COOP"
        )
        plain = run_cli_json(url, "org", "create", "--name", "Plain", "--balance", "5")
        for org, number, expected in (
            (demo, "639171110001", "Tambuli"),
            (coop, "639171110002", "COOP"),
            (plain, "639171110003", "Tambuli"),
        ):
            answer = _send_without_sender(server.base_url, org, number)
            assert answer.status_code == 200, answer.text
            assert _sender_seen_by_the_operator(url, number) == expected
    turned_off = {**FAST, "TAMBULI_DEFAULT_SENDER_ID": "none"}
    with running_server(url, tmp_path, turned_off) as server:
        refused = _send_without_sender(server.base_url, plain, "639171110004")
        assert refused.status_code == 400
        assert refused.json()["errorCode"] == "sms.nosender"
        kept = _send_without_sender(server.base_url, coop, "639171110005")
        assert kept.status_code == 200, kept.text
    shown = run_cli_json(url, "org", "show", "--org", str(coop["orgId"]), "--json")
    assert shown["defaultSenderId"] == "COOP"


def test_a_server_default_sender_that_is_no_sender_id_stops_the_command(
    fresh_database_url: str,
) -> None:
    result = run_cli(
        fresh_database_url,
        "org",
        "list",
        extra_env={"TAMBULI_DEFAULT_SENDER_ID": "Far too long a name"},
    )
    assert result.returncode == 1
    assert "TAMBULI_DEFAULT_SENDER_ID" in result.stderr
    refused = run_cli(fresh_database_url, "org", "create", "--name", "X", "--sender-id", "N@pe")
    assert refused.returncode == 1 and "invalid --sender-id" in refused.stderr
