"""The operator's messaging commands (prices, org settings, channels, inbox) on a real database."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

from tambuli.campaigns.opt_outs import DEFAULT_OPT_OUT_KEYWORDS
from tambuli.channels.base import Outcome
from tambuli.channels.sms.simulator import Submission
from tambuli.db.engine import Database
from tambuli.messaging.simulator_journal import DatabaseJournal
from tests.support.server import tambuli_command


def _run(
    database_url: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "TAMBULI_DATABASE_URL": database_url, **(env or {})}
    return subprocess.run(
        tambuli_command(*args),
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _cli(database_url: str, *args: str, env: dict[str, str] | None = None) -> str:
    result = _run(database_url, *args, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _json(database_url: str, *args: str, env: dict[str, str] | None = None) -> Any:
    return json.loads(_cli(database_url, *args, "--json", env=env))


def _refused(database_url: str, *args: str) -> str:
    """The one-line error of a command that must fail cleanly."""
    result = _run(database_url, *args)
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


def _price(listed: list[dict[str, Any]], country: str, prefix: str = "") -> dict[str, Any]:
    [entry] = [e for e in listed if e["country"] == country and e["prefix"] == prefix]
    return entry


def test_the_price_list_shows_the_shipped_defaults_until_the_operator_overrides_them(
    fresh_database_url: str,
) -> None:
    url = fresh_database_url
    listed = _json(url, "prices", "list")
    assert _price(listed, "PH") == {
        "country": "PH",
        "prefix": "",
        "price": "0.020000",
        "priceMicro": 20_000,
        "source": "default",
        "updatedAt": None,
    }
    table = _cli(url, "prices", "list")
    assert "0.020000" in table and "(all)" in table and "shipped default" in table

    whole = _json(url, "prices", "set", "--country", "ph", "--price", "0.018")
    assert (whole["country"], whole["prefix"], whole["priceMicro"]) == ("PH", "", 18_000)
    assert whole["source"] == "operator"
    prefixed = _json(
        url, "prices", "set", "--country", "PH", "--prefix", "63917", "--price", "0.015"
    )
    assert (prefixed["prefix"], prefixed["price"]) == ("63917", "0.015000")

    listed = _json(url, "prices", "list")
    assert _price(listed, "PH")["price"] == "0.018000"
    assert _price(listed, "PH")["source"] == "operator"
    assert _price(listed, "PH", "63917")["priceMicro"] == 15_000
    table = _cli(url, "prices", "list")
    assert "63917" in table and "set by operator" in table

    _cli(url, "prices", "remove", "--country", "PH")
    _cli(url, "prices", "remove", "--country", "PH", "--prefix", "63917")
    listed = _json(url, "prices", "list")
    assert _price(listed, "PH")["price"] == "0.020000"
    assert _price(listed, "PH")["source"] == "default"
    assert [e for e in listed if e["prefix"]] == []


def test_bad_countries_prices_and_prefixes_are_refused_with_one_clean_line(
    fresh_database_url: str,
) -> None:
    url = fresh_database_url
    before = _json(url, "prices", "list")
    assert "two-letter country code" in _refused(
        url, "prices", "set", "--country", "XYZ", "--price", "0.01"
    )
    assert "not an amount in USD" in _refused(
        url, "prices", "set", "--country", "PH", "--price", "cheap"
    )
    assert "6 digits" in _refused(url, "prices", "set", "--country", "PH", "--price", "0.0000001")
    assert "--price" in _refused(url, "prices", "set", "--country", "PH", "--price", "-1")
    assert "--price" in _refused(url, "prices", "set", "--country", "PH", "--price", "2e-2")
    assert "greater than zero" in _refused(url, "prices", "set", "--country", "PH", "--price", "0")
    assert "greater than zero" in _refused(
        url, "prices", "set", "--country", "PH", "--prefix", "63917", "--price", "0.000"
    )
    assert "'ZZ' is not a country code with phone numbers" in _refused(
        url, "prices", "set", "--country", "ZZ", "--price", "0.01"
    )
    assert "not a number prefix" in _refused(
        url, "prices", "set", "--country", "PH", "--prefix", "63-917", "--price", "0.01"
    )
    assert "No price set" in _refused(url, "prices", "remove", "--country", "KE")
    assert _json(url, "prices", "list") == before


def test_org_settings_round_trip_and_a_bad_value_changes_nothing(
    fresh_database_url: str,
) -> None:
    url = fresh_database_url
    org_id = str(json.loads(_cli(url, "org", "create", "--name", "Clinic"))["orgId"])
    assert _json(url, "org", "show", "--org", org_id) == {
        "orgId": int(org_id),
        "defaultSenderId": "",
        "deliveryWindowSeconds": 24 * 3600,
        "inboundUrl": "",
        "topupUrl": "",
        "clientPushEvents": "receipts",
        "hasWebhookSecret": False,
        "optOutKeywords": list(DEFAULT_OPT_OUT_KEYWORDS),
        "optInKeywords": ["START", "UNSTOP", "SUBSCRIBE"],
    }

    changed = _json(
        url,
        "org",
        "set",
        "--org",
        org_id,
        "--sender-id",
        "Clinic",
        "--inbound-url",
        "https://example.com/inbound",
        "--topup-url",
        "https://example.com/topups",
        "--delivery-window-hours",
        "1.5",
        "--opt-out-keywords",
        " STOP, Hinto ,,",
        "--client-push-events",
        "all",
    )
    expected = {
        "orgId": int(org_id),
        "defaultSenderId": "Clinic",
        "deliveryWindowSeconds": 5400,
        "inboundUrl": "https://example.com/inbound",
        "topupUrl": "https://example.com/topups",
        "clientPushEvents": "all",
        "hasWebhookSecret": False,
        "optOutKeywords": ["STOP", "Hinto"],
        "optInKeywords": ["START", "UNSTOP", "SUBSCRIBE"],
    }
    assert changed == expected
    assert _json(url, "org", "show", "--org", org_id) == expected
    assert "https://example.com/inbound" in _cli(url, "org", "show", "--org", org_id)

    assert "--sender-id" in _refused(
        url, "org", "set", "--org", org_id, "--sender-id", "Far too long a name"
    )
    assert "--sender-id" in _refused(
        url, "org", "set", "--org", org_id, "--sender-id", "Bad<id>", "--delivery-window-hours", "2"
    )
    assert "--inbound-url" in _refused(
        url, "org", "set", "--org", org_id, "--inbound-url", "ftp://example.com/"
    )
    assert "--topup-url" in _refused(
        url, "org", "set", "--org", org_id, "--topup-url", "http://user:pw@example.com/"
    )
    assert "--delivery-window-hours" in _refused(
        url, "org", "set", "--org", org_id, "--delivery-window-hours", "soon"
    )
    assert "between one minute and a year" in _refused(
        url,
        "org",
        "set",
        "--org",
        org_id,
        "--sender-id",
        "Other",
        "--delivery-window-hours",
        "0.001",
    )
    assert "--opt-out-keywords" in _refused(
        url, "org", "set", "--org", org_id, "--opt-out-keywords", "x" * 51
    )
    assert "--client-push-events" in _refused(
        url, "org", "set", "--org", org_id, "--client-push-events", "accepted"
    )
    assert _json(url, "org", "show", "--org", org_id) == expected
    assert "No organization" in _refused(url, "org", "show", "--org", "999999")
    assert _json(url, "org", "show", "--org", org_id) == expected

    cleared = _json(
        url,
        "org",
        "set",
        "--org",
        org_id,
        "--inbound-url",
        "",
        "--sender-id",
        "",
        "--topup-url",
        "",
    )
    assert (cleared["inboundUrl"], cleared["defaultSenderId"], cleared["topupUrl"]) == ("", "", "")
    assert cleared["deliveryWindowSeconds"] == 5400


def test_the_webhook_secret_is_stable_until_rotated_and_never_shown_with_the_profile(
    fresh_database_url: str,
) -> None:
    url = fresh_database_url
    org_id = str(json.loads(_cli(url, "org", "create", "--name", "Shop"))["orgId"])
    first = json.loads(_cli(url, "org", "webhook-secret", "--org", org_id))["webhookSecret"]
    assert first.startswith("whsec_")
    again = json.loads(_cli(url, "org", "webhook-secret", "--org", org_id))["webhookSecret"]
    assert again == first

    shown = _cli(url, "org", "show", "--org", org_id, "--json")
    assert json.loads(shown)["hasWebhookSecret"] is True
    assert first not in shown and first not in _cli(url, "org", "show", "--org", org_id)

    rotated = json.loads(_cli(url, "org", "webhook-secret", "--org", org_id, "--rotate"))
    assert rotated["webhookSecret"].startswith("whsec_")
    assert rotated["webhookSecret"] != first
    after = json.loads(_cli(url, "org", "webhook-secret", "--org", org_id))["webhookSecret"]
    assert after == rotated["webhookSecret"]
    assert "No organization" in _refused(url, "org", "webhook-secret", "--org", "999999")


def test_channels_list_shows_the_simulator_with_its_explicit_limit(
    fresh_database_url: str,
) -> None:
    url = fresh_database_url
    assert _json(url, "channels", "list") == [
        {
            "name": "simulator",
            "kind": "simulator",
            "partsPerSecond": 2000,
            "unlimited": False,
            "receiptDelaySeconds": 1,
            "workers": [],
        }
    ]
    assert "2000 parts/s" in _cli(url, "channels", "list")
    assert "No worker process reports" in _cli(url, "channels", "list")

    unlimited = {
        "TAMBULI_SIMULATOR_PARTS_PER_SECOND": "0",
        "TAMBULI_SIMULATOR_RECEIPT_DELAY": "2.5",
    }
    [channel] = _json(url, "channels", "list", env=unlimited)
    assert (channel["partsPerSecond"], channel["unlimited"]) == (0, True)
    assert channel["receiptDelaySeconds"] == 2.5
    assert "no limit" in _cli(url, "channels", "list", env=unlimited)


def test_the_simulator_inbox_of_an_empty_database_is_an_empty_list(
    fresh_database_url: str,
) -> None:
    assert _json(fresh_database_url, "simulator", "inbox") == []


async def _record(database_url: str, submissions: list[Submission]) -> None:
    db = Database(database_url)
    try:
        await DatabaseJournal(db).record_submissions(submissions)
    finally:
        await db.dispose()


def _submission(message_id: int, recipient: str, at: datetime, **changes: Any) -> Submission:
    fields: dict[str, Any] = {
        "operator_message_id": f"sim-{message_id}-1",
        "message_id": message_id,
        "sender": "Clinic",
        "recipient": recipient,
        "body": f"Hello number {message_id}",
        "parts": 1,
        "outcome": Outcome.ACCEPTED,
        "receipt": "confirmed",
        "receipt_due_at": at + timedelta(seconds=1),
        "reply": "",
        "submitted_at": at,
        **changes,
    }
    return Submission(**fields)


def test_the_simulator_inbox_lists_what_the_operator_received_newest_first(
    fresh_database_url: str,
) -> None:
    url = fresh_database_url
    _cli(url, "migrate")
    at = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
    asyncio.run(
        _record(
            url,
            [
                _submission(1, "639170000001", at, outcome=Outcome.PERMANENT, receipt=""),
                _submission(2, "639170000005", at + timedelta(seconds=5), reply="YES", parts=2),
                _submission(3, "639170000001", at + timedelta(seconds=9), receipt_due_at=None),
            ],
        )
    )
    inbox = _json(url, "simulator", "inbox")
    assert [m["messageId"] for m in inbox] == [3, 2, 1]
    assert inbox[1] == {
        "submittedAt": "2025-03-01T08:00:05+00:00",
        "recipient": "639170000005",
        "sender": "Clinic",
        "outcome": "accepted",
        "parts": 2,
        "receipt": "confirmed",
        "receiptDueAt": "2025-03-01T08:00:06+00:00",
        "reply": "YES",
        "body": "Hello number 2",
        "messageId": 2,
        "operatorMessageId": "sim-2-1",
    }
    only = _json(url, "simulator", "inbox", "--number", "+639170000001", "--limit", "1")
    assert [m["messageId"] for m in only] == [3]
    table = _cli(url, "simulator", "inbox", env={"COLUMNS": "200"})
    assert "2025-03-01 08:00:09" in table and "permanent" in table
    assert "confirmed (sent)" in table and "confirmed (due 2025-03-01 08:00:06)" in table
    assert "--number" in _refused(url, "simulator", "inbox", "--number", "call me")
