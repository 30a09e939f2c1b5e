"""`tambuli serve` as a subprocess on a fresh database, driven by the CLI and real HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.support.cli import run_cli
from tests.support.server import running_server


def test_first_start_prints_a_demo_token_and_a_working_balance_curl(
    fresh_database_url: str, tmp_path: Path
) -> None:
    with running_server(fresh_database_url, tmp_path) as server:
        log = server.log()
        org_id, token = server.read_demo_organization()
        assert f"/v1/organizations/{org_id}/balance.json" in log
        assert "curl -H" in log
        answer = httpx.get(
            f"{server.base_url}/v1/organizations/{org_id}/balance.json",
            headers={"Authorization": f"Token {token}"},
        )
        assert answer.status_code == 200
        assert answer.json()["balanceMicro"] == 10_000_000
        assert answer.json()["balanceHuman"] == "10.00"


def test_an_organization_made_with_the_cli_uses_the_api(
    fresh_database_url: str, tmp_path: Path
) -> None:
    created = run_cli(fresh_database_url, "org", "create", "--name", "Clinic", "--balance", "2.5")
    assert created.returncode == 0, created.stderr
    lines = created.stdout.splitlines()
    assert len(lines) == 1
    org = json.loads(lines[0])
    assert set(org) == {"orgId", "token"}
    with running_server(fresh_database_url, tmp_path) as server:
        auth = {"Authorization": f"Token {org['token']}"}
        base = f"{server.base_url}/v1/organizations/{org['orgId']}"
        with httpx.Client(headers=auth, timeout=10) as client:
            balance = client.get(f"{base}/balance.json").json()
            assert balance["balanceMicro"] == 2_500_000
            made = client.post(
                f"{base}/contacts/",
                json={"phoneNumber": "09171234567", "phoneNumberCountry": "PH", "firstName": "Ana"},
            )
            assert made.status_code == 200, made.text
            contact_id = made.json()["id"]
            assert client.get(f"{base}/contacts/{contact_id}").json()["firstName"] == "Ana"
            listed = client.get(f"{base}/contacts/", params={"search": "ana"}).json()
            assert [c["id"] for c in listed["contacts"]] == [contact_id]
        # Tokens revoked with the CLI stop working once the server's short cache expires.
        revoked = run_cli(fresh_database_url, "token", "revoke", org["token"])
        assert revoked.returncode == 0, revoked.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("balance", "credit", "--org", "1", "--amount", "-3"),
        ("balance", "credit", "--org", "1", "--amount", "0.0000001"),
        ("balance", "credit", "--org", "424242", "--amount", "1"),
        ("token", "create", "--org", "424242"),
        ("org", "create", "--name", "   "),
    ],
)
def test_bad_cli_input_fails_with_a_message_and_no_traceback(
    fresh_database_url: str, args: tuple[str, ...]
) -> None:
    result = run_cli(fresh_database_url, *args)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.strip()
