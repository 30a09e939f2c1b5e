"""The operator's command line against a real database."""

from __future__ import annotations

import json
import subprocess

from tests.support.cli import run_cli


def _cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    result = run_cli(database_url, *args)
    assert result.returncode == 0, result.stderr
    return result


def _refused(database_url: str, *args: str) -> str:
    """The one-line error of a command that must fail cleanly."""
    result = run_cli(database_url, *args)
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_migrate_then_manage_an_organization_from_the_command_line(
    fresh_database_url: str,
) -> None:
    url = fresh_database_url
    _cli(url, "migrate")
    org = json.loads(_cli(url, "org", "create", "--name", "Co-op").stdout)
    org_id = str(org["orgId"])
    token = json.loads(_cli(url, "token", "create", "--org", org_id).stdout)["token"]
    assert token != org["token"]
    listed = json.loads(_cli(url, "token", "list", "--org", org_id, "--json").stdout)
    assert [t["prefix"] for t in listed] == [org["token"][:8] + "…", token[:8] + "…"]
    _cli(url, "token", "revoke", "--id", str(listed[0]["id"]))
    listed = json.loads(_cli(url, "token", "list", "--org", org_id, "--json").stdout)
    assert listed[0]["revokedAt"] and not listed[1]["revokedAt"]

    credited = json.loads(
        _cli(url, "balance", "credit", "--org", org_id, "--amount", "12.34", "--json").stdout
    )
    assert credited["balanceMicro"] == 12_340_000
    _cli(url, "balance", "auto-recharge", "--org", org_id, "--threshold", "5", "--amount", "20")
    shown = json.loads(_cli(url, "balance", "show", "--org", org_id, "--json").stdout)
    assert shown["autoRecharge"] is True
    assert shown["autoRechargeThresholdMicro"] == 5_000_000
    assert shown["autoRechargeAmountMicro"] == 20_000_000
    _cli(url, "balance", "auto-recharge", "--org", org_id, "--off")
    shown = json.loads(_cli(url, "balance", "show", "--org", org_id, "--json").stdout)
    assert shown["autoRecharge"] is False
    history = json.loads(_cli(url, "balance", "history", "--org", org_id, "--json").stdout)
    assert [h["kind"] for h in history] == ["credit"]

    group = json.loads(_cli(url, "groups", "create", "--org", org_id, "--name", "Farmers").stdout)
    groups = json.loads(_cli(url, "groups", "list", "--org", org_id, "--json").stdout)
    assert groups == [{"id": group["id"], "name": "Farmers", "size": 0}]
    field = json.loads(_cli(url, "fields", "create", "--org", org_id, "--name", "Crop").stdout)
    fields = json.loads(_cli(url, "fields", "list", "--org", org_id, "--json").stdout)
    assert fields == [{"id": field["id"], "name": "Crop"}]
    table = _cli(url, "org", "list").stdout
    assert "Co-op" in table


def test_operator_tokens_are_created_listed_and_revoked_from_the_command_line(
    fresh_database_url: str,
) -> None:
    url = fresh_database_url
    token = json.loads(_cli(url, "operator", "token", "create", "--note", "prometheus").stdout)[
        "token"
    ]
    listed = json.loads(_cli(url, "operator", "token", "list", "--json").stdout)
    assert [(t["prefix"], t["note"], t["revokedAt"]) for t in listed] == [
        (token[:8] + "…", "prometheus", "")
    ]
    _cli(url, "operator", "token", "revoke", "--id", str(listed[0]["id"]))
    [revoked] = json.loads(_cli(url, "operator", "token", "list", "--json").stdout)
    assert revoked["revokedAt"]
    again = run_cli(url, "operator", "token", "revoke", "--id", str(listed[0]["id"]))
    assert again.returncode == 1
    assert "No live operator token" in again.stderr


def test_money_options_take_plain_decimals_only_and_a_refusal_changes_nothing(
    fresh_database_url: str,
) -> None:
    url = fresh_database_url
    _cli(url, "migrate")
    org_id = str(json.loads(_cli(url, "org", "create", "--name", "Co-op").stdout)["orgId"])

    for amount in ("1e3", "1_000", "+5", ".5", "Infinity"):
        line = _refused(url, "balance", "credit", "--org", org_id, "--amount", amount)
        assert line == f"Error: invalid --amount: {amount!r} is not an amount in USD"
    assert "--amount" in _refused(url, "balance", "credit", "--org", org_id, "--amount", "0")
    assert "--threshold" in _refused(
        url, "balance", "auto-recharge", "--org", org_id, "--threshold", "1e1", "--amount", "5"
    )
    assert "--balance" in _refused(url, "org", "create", "--name", "Big", "--balance", "1e3")

    shown = json.loads(_cli(url, "balance", "show", "--org", org_id, "--json").stdout)
    assert (shown["balanceMicro"], shown["autoRecharge"]) == (0, False)
    assert json.loads(_cli(url, "balance", "history", "--org", org_id, "--json").stdout) == []
    assert "Big" not in _cli(url, "org", "list").stdout
    credited = _cli(url, "balance", "credit", "--org", org_id, "--amount", "1000", "--json")
    assert json.loads(credited.stdout)["balanceMicro"] == 1_000_000_000
