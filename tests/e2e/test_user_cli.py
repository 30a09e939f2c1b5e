"""`tambuli user create` and `tambuli user list` against a real database."""

from __future__ import annotations

import asyncio
import json

from tambuli.clock import SystemClock
from tambuli.db.engine import Database
from tambuli.organizations import users
from tests.support.cli import run_cli, run_cli_json


def _sign_in(url: str, email: str, password: str) -> int:
    async def check() -> int:
        db = Database(url)
        try:
            return await users.verify_sign_in(db, SystemClock(), email, password, "127.0.0.1")
        finally:
            await db.dispose()

    return asyncio.run(check())


def test_a_user_created_without_a_password_gets_a_one_time_sign_in_link(
    fresh_database_url: str,
) -> None:
    url = fresh_database_url
    org_id = str(run_cli_json(url, "org", "create", "--name", "Co-op")["orgId"])
    created = run_cli_json(
        url,
        "user", "create", "--org", org_id, "--email", "Ana@Example.org", "--role", "viewer",
        "--base-url", "https://console.example.org/",
    )  # fmt: skip
    assert created["signInLink"].startswith("https://console.example.org/sign-in/link/")
    listed = run_cli_json(url, "user", "list", "--org", org_id, "--json")
    ana = next(u for u in listed if u["userId"] == created["userId"])
    assert ana["email"] == "ana@example.org"
    assert ana["roles"] == [{"orgId": int(org_id), "role": "viewer"}]
    assert ana["hasPassword"] is False


def test_a_user_created_with_a_password_from_stdin_signs_in_with_it(
    fresh_database_url: str,
) -> None:
    url = fresh_database_url
    org_id = str(run_cli_json(url, "org", "create", "--name", "Co-op")["orgId"])
    result = run_cli(
        url,
        "user", "create", "--org", org_id, "--email", "ben@example.org", "--role", "owner",
        "--password-stdin",
        stdin_text="a long enough password\n",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    user_id = json.loads(result.stdout)["userId"]
    assert _sign_in(url, "ben@example.org", "a long enough password") == user_id


def test_a_short_password_or_an_unknown_role_is_refused_in_one_line(
    fresh_database_url: str,
) -> None:
    url = fresh_database_url
    org_id = str(run_cli_json(url, "org", "create", "--name", "Co-op")["orgId"])
    short = run_cli(
        url,
        "user", "create", "--org", org_id, "--email", "c@example.org", "--password-stdin",
        stdin_text="short\n",
    )  # fmt: skip
    assert short.returncode != 0 and "at least 10 characters" in short.stderr
    role = run_cli(url, "user", "create", "--org", org_id, "--email", "c@ex.org", "--role", "boss")
    assert role.returncode != 0 and "Traceback" not in role.stderr


def test_a_user_without_an_email_still_gets_an_api_token(fresh_database_url: str) -> None:
    url = fresh_database_url
    org_id = str(run_cli_json(url, "org", "create", "--name", "Co-op")["orgId"])
    created = run_cli_json(url, "user", "create", "--org", org_id, "--name", "Importer")
    assert created["userId"] > 0 and created["token"]


def test_an_operator_user_is_flagged_in_the_listing(fresh_database_url: str) -> None:
    url = fresh_database_url
    org_id = str(run_cli_json(url, "org", "create", "--name", "Co-op")["orgId"])
    created = run_cli_json(
        url, "user", "create", "--org", org_id, "--email", "ops@example.org", "--operator"
    )
    listed = run_cli_json(url, "user", "list", "--json")
    ops = next(u for u in listed if u["userId"] == created["userId"])
    assert ops["operator"] is True
    assert ops["roles"] == [{"orgId": int(org_id), "role": "editor"}]
