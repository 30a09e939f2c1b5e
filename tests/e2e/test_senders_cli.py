"""`tambuli senders` and `tambuli inbound unmatched` on a real database, as an operator runs."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

from tambuli.campaigns.replies import find_runs_awaiting_reply_within
from tambuli.channels.base import InboundSms
from tambuli.clock import SystemClock
from tambuli.db.engine import Database
from tambuli.messaging.receipts import MessageEvents
from tests.e2e.test_messaging_cli import _cli, _json, _refused


def _new_org(url: str, name: str) -> int:
    return int(json.loads(_cli(url, "org", "create", "--name", name))["orgId"])


async def _receive(database_url: str, sms: InboundSms) -> None:
    db = Database(database_url)
    try:
        events = MessageEvents(db, SystemClock(), find_runs_awaiting_reply_within)
        await events.record_inbound([sms])
    finally:
        await db.dispose()


def test_a_sender_is_registered_to_one_organization_listed_and_removed(
    fresh_database_url: str,
) -> None:
    url = fresh_database_url
    clinic = _new_org(url, "Clinic")
    shop = _new_org(url, "Shop")
    added = _json(url, "senders", "add", "--org", str(clinic), "--sender", "Acme")
    assert (added["sender"], added["orgId"]) == ("Acme", clinic)
    _json(url, "senders", "add", "--org", str(shop), "--sender", "+639170000777")
    taken = _refused(url, "senders", "add", "--org", str(shop), "--sender", "ACME")
    assert taken == f"Error: The sender ID 'Acme' is registered to organization {clinic}"
    listed = _json(url, "senders", "list")
    assert [(s["sender"], s["orgId"]) for s in listed] == [
        ("Acme", clinic),
        ("639170000777", shop),
    ]
    assert [s["sender"] for s in _json(url, "senders", "list", "--org", str(shop))] == [
        "639170000777"
    ]
    assert "Acme" in _cli(url, "senders", "list")
    assert _refused(url, "senders", "add", "--org", "999999", "--sender", "Other").startswith(
        "Error: No organization"
    )
    assert _refused(url, "senders", "add", "--org", str(shop), "--sender", "Too long a name")
    _cli(url, "senders", "remove", "--sender", "acme")
    assert _refused(url, "senders", "remove", "--sender", "Acme") == (
        "Error: The sender ID 'Acme' is not registered"
    )
    assert [s["orgId"] for s in _json(url, "senders", "list")] == [shop]


def test_inbound_unmatched_lists_what_no_organization_was_given(fresh_database_url: str) -> None:
    url = fresh_database_url
    assert _json(url, "inbound", "unmatched") == []
    at = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    asyncio.run(_receive(url, InboundSms("simulator", "639171230042", "Nobody", "who?", at, "e1")))
    assert _json(url, "inbound", "unmatched") == [
        {
            "id": 1,
            "receivedAt": "2026-03-01T08:00:00.000000Z",
            "channel": "simulator",
            "from": "639171230042",
            "to": "Nobody",
            "body": "who?",
            "candidateOrgIds": [],
        }
    ]
    assert "who?" in _cli(url, "inbound", "unmatched")
