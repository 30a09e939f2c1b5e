"""Campaigns end to end: `tambuli serve` as a subprocess on a database of the test's own, the
simulated operator, real HTTP, and the `tambuli campaign` commands."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tambuli.campaigns.replies import find_runs_awaiting_reply_within
from tambuli.channels.base import InboundSms
from tambuli.channels.sms.simulator import SIMULATOR_CHANNEL
from tambuli.clock import SystemClock
from tambuli.db.engine import Database
from tambuli.messaging.receipts import MessageEvents
from tests.support.server import RunningServer, running_server, tambuli_command

# Receipts and replies within a fifth of a second, idle workers looking every 50 ms.
FAST = {
    "TAMBULI_SIMULATOR_RECEIPT_DELAY": "0.2",
    "TAMBULI_WORKER_POLL_SECONDS": "0.05",
    "TAMBULI_WORKER_IDLE_POLL_SECONDS": "0.05",
}
SENDER_ID = "COOP"
DEADLINE_SECONDS = 30.0

T = TypeVar("T")


# --- helpers -----------------------------------------------------------------------------------


def _run(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TAMBULI_DATABASE_URL": database_url, "COLUMNS": "200"}
    return subprocess.run(
        tambuli_command(*args), env=env, capture_output=True, text=True, timeout=60, check=False
    )


def _cli(database_url: str, *args: str) -> str:
    """The stdout of a command that must succeed."""
    result = _run(database_url, *args)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return result.stdout


def _cli_json(database_url: str, *args: str) -> Any:
    return json.loads(_cli(database_url, *args))


def _refused(database_url: str, *args: str) -> str:
    """The one-line error of a command that must fail cleanly."""
    result = _run(database_url, *args)
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: "), result.stderr
    return lines[0]


def _funded_org(database_url: str, *, new_token: bool = False) -> tuple[int, str]:
    """An organization with 5 USD and the default sender ID COOP: its ID and a token (the
    owner's, or a new one made with `tambuli token create`)."""
    org = _cli_json(database_url, "org", "create", "--name", "Farmers co-op", "--balance", "5")
    org_id = int(org["orgId"])
    _cli(database_url, "org", "set", "--org", str(org_id), "--sender-id", SENDER_ID)
    if not new_token:
        return org_id, str(org["token"])
    token = _cli_json(database_url, "token", "create", "--org", str(org_id))["token"]
    assert token != org["token"]
    return org_id, str(token)


@contextmanager
def _serving(
    database_url: str, log_dir: Path, token: str
) -> Iterator[tuple[RunningServer, httpx.Client]]:
    """`tambuli serve` with fast workers, and a client that authenticates with `token`."""
    with (
        running_server(database_url, log_dir, FAST) as server,
        httpx.Client(
            base_url=server.base_url,
            headers={"Authorization": f"Token {token}"},
            timeout=10,
            follow_redirects=False,
        ) as client,
    ):
        yield server, client


def _wait_for(
    fetch: Callable[[], T], done: Callable[[T], bool], what: str, server: RunningServer
) -> T:
    """Fetch until `done` holds, for at most DEADLINE_SECONDS."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        found = fetch()
        if done(found):
            return found
        assert time.monotonic() < deadline, f"{what} never happened: {found!r}\n{server.log()}"
        time.sleep(0.05)


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _error_code(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"], body
    return str(body["errorCode"])


def _deliver_inbound(database_url: str, handset: str, body: str, event_id: str) -> None:
    """An SMS from a handset to COOP, reported by the simulated operator into the database the
    server uses (the simulator has no inbound of its own besides its automatic "YES")."""

    async def deliver() -> None:
        db = Database(database_url)
        try:
            await MessageEvents(db, SystemClock(), find_runs_awaiting_reply_within).record_inbound(
                [
                    InboundSms(
                        channel=SIMULATOR_CHANNEL,
                        sender=handset,
                        recipient=SENDER_ID,
                        body=body,
                        at=datetime.now(UTC),
                        operator_event_id=event_id,
                    )
                ]
            )
        finally:
            await db.dispose()

    asyncio.run(deliver())


# --- an SMS poll -------------------------------------------------------------------------------


POLL: dict[str, Any] = {
    "name": "Harvest poll",
    "kind": "poll",
    "steps": [
        {"message": "Did you plant rice this season?", "choices": ["Yes", "No"]},
        {"message": "Will you join the co-op market day?", "choices": ["Yes", "No"]},
    ],
}


def test_a_two_question_poll_is_answered_yes_twice_by_the_simulated_handset(
    fresh_database_url: str, tmp_path: Path
) -> None:
    url = fresh_database_url
    org_id, token = _funded_org(url, new_token=True)
    with _serving(url, tmp_path, token) as (server, client):
        base = f"/v1/organizations/{org_id}"
        created = _ok(client.post(f"{base}/campaigns/", json=POLL), 201)
        campaign_id = created["campaignId"]
        assert isinstance(campaign_id, int)
        assert created["campaign"]["state"] == "draft"
        launched = _ok(client.post(f"{base}/campaigns/{campaign_id}/launch"))
        assert launched["state"] == "launched"

        handset = "639171230005"  # the simulator's handset that answers "YES"
        subscribed = _ok(
            client.post(
                f"{base}/engagements/{campaign_id}/subscribe",
                json={"fullPhoneNumber": handset, "contact": {"firstName": "Rosa"}},
            )
        )
        run_id, contact_id = subscribed["runId"], subscribed["contactId"]
        run_path = f"{base}/campaigns/{campaign_id}/runs/{run_id}/"

        run = _wait_for(
            lambda: _ok(client.get(run_path)), lambda r: r["done"], "the poll's end", server
        )
        assert (run["status"], run["stepsSent"], run["stepsTotal"]) == ("done", 2, 2)
        assert (run["contactId"], run["awaitingReply"], run["withFailures"]) == (
            contact_id,
            False,
            False,
        )
        assert run["nextStepAt"] is None and run["endedAt"] is not None

        answers = _ok(client.get(f"{base}/campaigns/{campaign_id}/runs/{run_id}/answers"))
        assert [(a["question"], a["answer"], a["reply"]) for a in answers["answers"]] == [
            (1, "Yes", "YES"),
            (2, "Yes", "YES"),
        ]
        assert {(a["runId"], a["contactId"]) for a in answers["answers"]} == {(run_id, contact_id)}
        everyone = _ok(client.get(f"{base}/campaigns/{campaign_id}/answers"))
        assert everyone["answers"] == answers["answers"]

        exported = client.get(f"{base}/campaigns/{campaign_id}/answers.csv")
        assert exported.status_code == 200, exported.text
        assert exported.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(exported.text)))
        assert rows[0] == [
            "runId",
            "contactId",
            "question",
            "questionText",
            "answer",
            "reply",
            "at",
        ]
        assert [row[:6] for row in rows[1:]] == [
            [str(run_id), str(contact_id), "1", POLL["steps"][0]["message"], "Yes", "YES"],
            [str(run_id), str(contact_id), "2", POLL["steps"][1]["message"], "Yes", "YES"],
        ]

        counts = _ok(client.get(f"{base}/campaigns/{campaign_id}/"))["runs"]
        assert counts == {"done": 1}

        # Both questions went out from COOP and both "YES" replies came back, oldest first.
        listed = _ok(client.get(f"{base}/messages/"))["messages"][::-1]
        assert [(m["direction"], m["message"]) for m in listed] == [
            ("egress", POLL["steps"][0]["message"]),
            ("ingress", "YES"),
            ("egress", POLL["steps"][1]["message"]),
            ("ingress", "YES"),
        ]
        for message in listed:
            pair = (message["sender"], message["recipient"])
            expected = (
                (SENDER_ID, handset) if message["direction"] == "egress" else (handset, SENDER_ID)
            )
            assert pair == expected, message
            assert message["contactId"] == contact_id
        outbound = [m for m in listed if m["direction"] == "egress"]
        assert all(m["deliveredToTelco"] for m in outbound), outbound


# --- a blast through the legacy Subscription API ----------------------------------------------


def test_a_blast_to_twenty_contacts_through_the_legacy_subscription_api_is_delivered_to_all(
    fresh_database_url: str, tmp_path: Path
) -> None:
    url = fresh_database_url
    org_id, token = _funded_org(url)
    blast = {
        "name": "Market day",
        "kind": "blast",
        "steps": [{"message": "Hi {{contact.firstName}}, market day is on Saturday."}],
    }
    # Numbers ending in 0789: the simulator accepts and confirms them.
    numbers = [f"6391755{n:02d}789" for n in range(20)]
    with _serving(url, tmp_path, token) as (server, client):
        base = f"/v1/organizations/{org_id}"
        campaign_id = _ok(client.post(f"{base}/campaigns/", json=blast), 201)["campaignId"]
        _ok(client.post(f"{base}/campaigns/{campaign_id}/launch"))

        contacts = [
            {"fullPhoneNumber": number, "firstName": f"Farmer{n}"}
            for n, number in enumerate(numbers)
        ]
        answer = _ok(
            client.post(f"/api/v1/engagements/{campaign_id}/contacts/", json=contacts), 201
        )
        data = answer["data"]
        assert [c["fullPhoneNumber"] for c in data] == numbers
        assert [c["firstName"] for c in data] == [f"Farmer{n}" for n in range(20)]
        assert {c["organizationId"] for c in data} == {org_id}
        contact_ids = [c["id"] for c in data]
        assert len(set(contact_ids)) == 20

        def outbound() -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = _ok(
                client.get(f"{base}/messages/", params={"dir": "outbound"})
            )["messages"]
            return found

        sent = _wait_for(
            outbound,
            lambda got: len(got) == 20 and all(m["deliveredToPhone"] == "confirmed" for m in got),
            "twenty delivery receipts",
            server,
        )
        assert sorted(m["recipient"] for m in sent) == numbers
        assert {m["sender"] for m in sent} == {SENDER_ID}
        texts = {m["recipient"]: m["message"] for m in sent}
        assert texts == {
            number: f"Hi Farmer{n}, market day is on Saturday." for n, number in enumerate(numbers)
        }
        assert all(m["done"] and m["deliveredToTelco"] and m["error"] == "" for m in sent)

        runs_path = f"{base}/campaigns/{campaign_id}/runs/"
        done = _ok(client.get(runs_path, params={"status": "done"}))
        assert done["nextAfter"] is None
        assert sorted(r["contactId"] for r in done["runs"]) == sorted(contact_ids)
        assert all(
            (r["status"], r["done"], r["stepsSent"], r["stepsTotal"]) == ("done", True, 1, 1)
            for r in done["runs"]
        ), done["runs"]
        assert _ok(client.get(runs_path, params={"status": "active"}))["runs"] == []
        assert _ok(client.get(f"{base}/campaigns/{campaign_id}/"))["runs"] == {"done": 20}

        # A finished run does not block another: a contact is subscribed again by its ID.
        again = client.post(
            f"/api/v1/engagements/{campaign_id}/contacts/",
            json={"contacts": [{"id": contact_ids[0]}]},
        )
        assert again.status_code == 201, again.text
        assert [c["id"] for c in again.json()["data"]] == [contact_ids[0]]


# --- the command line --------------------------------------------------------------------------


DRIP_YAML = """\
# Two tips, a day and then a week apart.
name: Farm tips
kind: drip
steps:
  - delay: {unit: day, value: 1, time: "09:00"}
    message: "Tip one: check the irrigation."
  - delay: {unit: week, value: 1, time: "09:00"}
    message:
      default: "Tip two: dry the grain."
      tl: "Tip dalawa: patuyuin ang butil."
"""
BLAST_JSON = {"name": "Typhoon warning", "kind": "blast", "steps": [{"message": "Stay safe."}]}


def test_campaigns_are_created_from_files_launched_stopped_and_listed_with_the_cli(
    fresh_database_url: str, tmp_path: Path
) -> None:
    url = fresh_database_url
    created_org = _cli_json(url, "org", "create", "--name", "Farmers co-op", "--balance", "5")
    org_id, token = int(created_org["orgId"]), str(created_org["token"])
    org = str(org_id)
    yaml_file = tmp_path / "campaign.yaml"
    yaml_file.write_text(DRIP_YAML)
    json_file = tmp_path / "campaign.json"
    json_file.write_text(json.dumps(BLAST_JSON))

    printed = _cli(url, "campaign", "create", "--org", org, "--file", str(yaml_file))
    assert len(printed.splitlines()) == 1
    drip = json.loads(printed)
    assert list(drip) == ["campaignId"] and isinstance(drip["campaignId"], int)
    blast = _cli_json(url, "campaign", "create", "--org", org, "--file", str(json_file))
    assert list(blast) == ["campaignId"] and blast["campaignId"] != drip["campaignId"]
    drip_id, blast_id = str(drip["campaignId"]), str(blast["campaignId"])

    assert _cli_json(url, "campaign", "list", "--org", org, "--json") == [
        {
            "campaignId": drip["campaignId"],
            "name": "Farm tips",
            "kind": "drip",
            "state": "draft",
            "openForSubscriptions": True,
            "steps": 2,
        },
        {
            "campaignId": blast["campaignId"],
            "name": "Typhoon warning",
            "kind": "blast",
            "state": "draft",
            "openForSubscriptions": True,
            "steps": 1,
        },
    ]
    assert "cannot stop" in _refused(url, "campaign", "stop", "--org", org, "--campaign", blast_id)
    launched = _cli_json(url, "campaign", "launch", "--org", org, "--campaign", drip_id)
    assert (launched["campaignId"], launched["state"]) == (drip["campaignId"], "launched")

    def runs(*extra: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = _cli_json(
            url, "campaign", "runs", "--org", org, "--campaign", drip_id, *extra, "--json"
        )
        return found

    with _serving(url, tmp_path, token) as (_, client):
        subscribe = f"/v1/organizations/{org_id}/engagements/{drip_id}/subscribe"
        run_ids = [
            _ok(client.post(subscribe, json={"fullPhoneNumber": number}))["runId"]
            for number in ("639175551234", "639175554321")
        ]
        # The API sees what the CLI made: the campaign is launched, with its two steps.
        shown = _ok(client.get(f"/v1/organizations/{org_id}/campaigns/{drip_id}/"))
        assert (shown["state"], len(shown["steps"]), shown["runs"]) == (
            "launched",
            2,
            {"active": 2},
        )

        listed = runs()
        assert [r["runId"] for r in listed] == run_ids
        for run in listed:
            assert (run["status"], run["step"], run["stepsSent"]) == ("active", "1/2", 0)
            assert run["nextStepAt"] and run["lastError"] == ""

        stopped = _cli_json(url, "campaign", "stop", "--org", org, "--campaign", drip_id)
        assert stopped["state"] == "stopped"
        assert [r["runId"] for r in runs("--status", "paused")] == run_ids
        refused = client.post(subscribe, json={"fullPhoneNumber": "639175559876"})
        assert _error_code(refused, 400) == "campaign.closed"

        relaunched = _cli_json(url, "campaign", "launch", "--org", org, "--campaign", drip_id)
        assert relaunched["state"] == "launched"
        assert [(r["runId"], r["status"]) for r in runs()] == [(i, "active") for i in run_ids]
        again = client.post(subscribe, json={"fullPhoneNumber": "639175559876"})
        assert again.status_code == 200, again.text

    table = _cli(url, "campaign", "list", "--org", org)
    for shown_text in ("Farm tips", "launched", "Typhoon warning", "draft"):
        assert shown_text in table, table


def test_bad_campaign_files_fail_with_a_clear_error_and_create_nothing(
    fresh_database_url: str, tmp_path: Path
) -> None:
    url = fresh_database_url
    org = str(_cli_json(url, "org", "create", "--name", "Clinic")["orgId"])
    cases = {
        "broken.yaml": (
            "name: Tips\nkind: drip\nsteps: [ {message: Hi\n",
            "is not valid YAML: expected ',' or '}', but got '<stream end>' (line 4, column 1)",
        ),
        "choices.yaml": (
            # YAML 1.1 would read Yes/No as booleans; the file format keeps them as text.
            "name: Q\nkind: blast\nsteps: [{message: Hi, choices: [Yes, No]}]\n",
            "steps[0].choices is only for poll and drip campaigns",
        ),
        "kind.json": (
            json.dumps({"name": "Tips", "kind": "newsletter", "steps": [{"message": "Hi"}]}),
            "kind must be one of blast, drip, reminder, poll",
        ),
        "list.yaml": ("- name: Tips\n  kind: drip\n", "campaign must be an object"),
    }
    env = {**os.environ, "TAMBULI_DATABASE_URL": url}
    started: dict[str, subprocess.Popen[str]] = {}
    for name, (content, _) in cases.items():
        path = tmp_path / name
        path.write_text(content)
        # The cases are independent and write nothing, so they run side by side.
        started[name] = subprocess.Popen(
            tambuli_command("campaign", "create", "--org", org, "--file", str(path)),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    for name, process in started.items():
        stdout, stderr = process.communicate(timeout=60)
        assert process.returncode != 0 and stdout == "", (name, stdout)
        assert "Traceback" not in stderr, stderr
        assert stderr.startswith("Error: ") and cases[name][1] in stderr, stderr
        assert len(stderr.strip().splitlines()) == 1, stderr
    assert _cli_json(url, "campaign", "list", "--org", org, "--json") == []
    path = tmp_path / "ok.json"
    path.write_text(json.dumps({"name": "Tips", "kind": "drip", "steps": [{"message": "Hi"}]}))
    refused = _refused(url, "campaign", "create", "--org", "999999", "--file", str(path))
    assert refused == "Error: No organization with ID 999999"
    assert "No organization" in _refused(url, "campaign", "list", "--org", "999999")


# --- opting out and back in ---------------------------------------------------------------------


def test_stop_ends_the_run_as_opted_out_and_refuses_new_subscriptions_until_start(
    fresh_database_url: str, tmp_path: Path
) -> None:
    url = fresh_database_url
    org_id, token = _funded_org(url)
    drip = {
        "name": "Vaccination reminders",
        "kind": "drip",
        "steps": [
            {"message": "Welcome to the vaccination reminders."},
            {"delay": {"unit": "day", "value": 1}, "message": "Your child's next dose is due."},
        ],
    }
    handset = "639175550123"
    with _serving(url, tmp_path, token) as (server, client):
        base = f"/v1/organizations/{org_id}"
        campaign_id = _ok(client.post(f"{base}/campaigns/", json=drip), 201)["campaignId"]
        _ok(client.post(f"{base}/campaigns/{campaign_id}/launch"))
        subscribe = f"{base}/engagements/{campaign_id}/subscribe"
        first = _ok(client.post(subscribe, json={"fullPhoneNumber": handset}))
        contact_id = first["contactId"]

        def run_of(run_id: int) -> dict[str, Any]:
            found: dict[str, Any] = _ok(
                client.get(f"{base}/campaigns/{campaign_id}/runs/{run_id}/")
            )
            return found

        welcomed = _wait_for(
            lambda: run_of(first["runId"]),
            lambda r: r["stepsSent"] == 1,
            "the welcome message",
            server,
        )
        assert (welcomed["status"], welcomed["step"], welcomed["nextStepAt"] is not None) == (
            "active",
            2,
            True,
        )

        _deliver_inbound(url, handset, " stop ", "e2e-stop-1")
        ended = _wait_for(
            lambda: run_of(first["runId"]), lambda r: r["done"], "the opt-out", server
        )
        assert (ended["status"], ended["stepsSent"]) == ("opted_out", 1)
        assert ended["lastError"] == "the contact's number opted out"
        assert ended["nextStepAt"] is None and ended["endedAt"] is not None

        refused = client.post(subscribe, json={"fullPhoneNumber": handset})
        assert _error_code(refused, 400) == "contact.optedout"
        assert str(contact_id) in refused.json()["error"]
        by_id = client.post(subscribe, json={"contactId": contact_id})
        assert _error_code(by_id, 400) == "contact.optedout"
        legacy = client.post(
            f"/api/v1/engagements/{campaign_id}/contacts/", json={"id": contact_id}
        )
        assert _error_code(legacy, 400) == "contact.optedout"
        runs = _ok(client.get(f"{base}/campaigns/{campaign_id}/runs/"))["runs"]
        assert [r["id"] for r in runs] == [first["runId"]]

        _deliver_inbound(url, handset, "START", "e2e-start-1")

        def resubscribe() -> httpx.Response:
            return client.post(subscribe, json={"fullPhoneNumber": handset})

        again = _wait_for(resubscribe, lambda r: r.status_code != 400, "the opt-in", server)
        second = _ok(again)
        assert second["contactId"] == contact_id and second["runId"] != first["runId"]
        rewelcomed = _wait_for(
            lambda: run_of(second["runId"]),
            lambda r: r["stepsSent"] == 1,
            "the welcome message after opting in",
            server,
        )
        assert rewelcomed["status"] == "active"

        inbound = _ok(client.get(f"{base}/messages/", params={"dir": "inbound"}))["messages"]
        assert [m["message"] for m in inbound[::-1]] == [" stop ", "START"]
        outbound = _ok(client.get(f"{base}/messages/", params={"dir": "outbound"}))["messages"]
        assert [m["message"] for m in outbound[::-1]] == [
            "Welcome to the vaccination reminders.",
            "Welcome to the vaccination reminders.",
        ]
