"""`tambuli whatsapp numbers …` and `tambuli whatsapp templates …` on a real database."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner, Result

from tambuli.cli.main import cli


def _run(database_url: str, *args: str, group: str = "whatsapp") -> Result:
    env = {"TAMBULI_DATABASE_URL": database_url, "COLUMNS": "200"}
    return CliRunner().invoke(cli, [group, *args], env=env)


def _new_org(database_url: str, name: str) -> int:
    result = _run(database_url, "create", "--name", name, group="org")
    assert result.exit_code == 0, result.output
    return int(json.loads(result.stdout)["orgId"])


def _json(database_url: str, *args: str) -> Any:
    result = _run(database_url, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_numbers_and_templates_are_added_listed_and_removed(fresh_database_url: str) -> None:
    url = fresh_database_url
    org_id = _new_org(url, "WhatsApp CLI")
    other_id = _new_org(url, "Other")
    number = "63280000001"
    added = _json(
        url,
        "numbers",
        "add",
        "--org",
        str(org_id),
        "--number",
        f"+{number}",
        "--phone-number-id",
        "1055",
        "--token-env",
        "WA_TOKEN",
        "--channel",
        "cloud",
        "--price",
        "0.02",
    )
    assert added == {
        "number": number,
        "orgId": org_id,
        "phoneNumberId": "1055",
        "tokenEnv": "WA_TOKEN",
        "channel": "cloud",
        "price": "0.020000",
        "priceMicro": 20_000,
        "createdAt": added["createdAt"],
    }
    listed = _json(url, "numbers", "list", "--org", str(org_id))
    assert [n["number"] for n in listed] == [number]
    # Another organization cannot take the number; a token is never given, only its name.
    taken = _run(
        url,
        "numbers",
        "add",
        "--org",
        str(other_id),
        "--number",
        number,
        "--phone-number-id",
        "1",
        "--token-env",
        "WA_TOKEN",
    )
    assert taken.exit_code != 0 and "registered to organization" in taken.output
    bad_env = _run(
        url,
        "numbers",
        "add",
        "--org",
        str(org_id),
        "--number",
        number,
        "--phone-number-id",
        "1",
        "--token-env",
        "EAAG token=1",
    )
    assert bad_env.exit_code != 0 and "NAME of an environment variable" in bad_env.output

    template = _json(
        url,
        "templates",
        "add",
        "--number",
        number,
        "--name",
        "order_ready",
        "--language",
        "en",
        "--body",
        "Hi {{1}}, order {{2}} is ready",
    )
    assert template["parameters"] == 2
    gap = _run(
        url,
        "templates",
        "add",
        "--number",
        number,
        "--name",
        "gap",
        "--language",
        "en",
        "--body",
        "Hi {{2}}",
    )
    assert gap.exit_code != 0 and "without gaps" in gap.output
    assert [t["name"] for t in _json(url, "templates", "list", "--number", number)] == [
        "order_ready"
    ]
    removed = _run(
        url,
        "templates",
        "remove",
        "--number",
        number,
        "--name",
        "order_ready",
        "--language",
        "en",
    )
    assert removed.exit_code == 0, removed.output
    assert _json(url, "templates", "list", "--number", number) == []
    assert _run(url, "numbers", "remove", "--number", number).exit_code == 0
    assert _json(url, "numbers", "list", "--org", str(org_id)) == []
