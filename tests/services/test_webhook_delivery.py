"""Push delivery against a real HTTP receiver on 127.0.0.1: signing, retries, give-up, leases.

The receiver is a tiny asyncio HTTP/1.1 server of this module; it answers each request with the
next scripted status (200 once the script runs out) and records what it got. Time is a FakeClock,
so backoff and the 24-hour give-up need no sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tambuli.organizations import service as organizations
from tambuli.outbound_http import OutboundHttp
from tambuli.settings import Settings
from tambuli.webhooks import store
from tambuli.webhooks.address_guard import Resolver, resolve_system
from tambuli.webhooks.models import PUSH_GIVE_UP_AFTER, PUSH_RETRIES, DeliveryStatus, NewPush
from tambuli.webhooks.service import (
    PushDelivery,
    build_push_delivery,
    deliver_due_pushes,
    enqueue_pushes_within,
    list_pushes,
    read_webhook_secret,
    rotate_webhook_secret,
)
from tambuli.webhooks.signing import sign_webhook, verify_webhook

POLICY = PUSH_RETRIES
CLAIM_LEASE = Settings().claim_lease_seconds * timedelta(seconds=1)
LOW, HIGH = 1 - POLICY.jitter, 1 + POLICY.jitter
TICK = timedelta(milliseconds=1)


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as the receiver read it (header names in lower case)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A minimal HTTP/1.1 server on 127.0.0.1 answering each request with a scripted status."""

    statuses: list[int] = field(default_factory=list)
    always: int = 200
    requests: list[ReceivedRequest] = field(default_factory=list)
    port: int = 0
    # While set, answers wait until it is released; `arrived` tells that a request is waiting.
    held: asyncio.Event | None = None
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        """Where pushes to this receiver go."""
        return f"http://127.0.0.1:{self.port}/hook"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Read one request, record it, answer, close the connection."""
        try:
            request_line = await reader.readline()
            if not request_line:
                return
            method, path, _ = request_line.decode("latin-1").split(" ", 2)
            headers: dict[str, str] = {}
            while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.requests.append(ReceivedRequest(method, path, headers, body))
            self.arrived.set()
            if self.held is not None:
                await self.held.wait()
            status = self.statuses.pop(0) if self.statuses else self.always
            head = f"HTTP/1.1 {status} Scripted\r\nContent-Length: 0\r\nConnection: close\r\n"
            writer.write(head.encode("ascii") + b"\r\n")
            await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A running receiver on a free port of 127.0.0.1."""
    running = Receiver()
    server = await asyncio.start_server(running.handle, "127.0.0.1", 0)
    running.port = int(server.sockets[0].getsockname()[1])
    try:
        yield running
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
async def client() -> AsyncIterator[OutboundHttp]:
    """The HTTP client pushes go through; no proxies from the environment, no redirects."""
    async with OutboundHttp() as http:
        yield http


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A URL on 127.0.0.1 whose port is bound by nobody listening: connections are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as bound:
        bound.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{bound.getsockname()[1]}/hook"


async def new_org(db: Database, clock: FakeClock, name: str = "Webhook org") -> int:
    """A new organization; returns its ID."""
    return (await organizations.create_organization(db, clock, name)).org_id


async def queue(
    db: Database,
    clock: FakeClock,
    org_id: int,
    url: str,
    payload: dict[str, Any] | None = None,
    event: str = "accepted",
) -> int:
    """Queue one push due now; returns its ID."""
    async with db.write() as conn:
        await enqueue_pushes_within(
            conn, clock.now(), [NewPush(org_id, url, event, payload or {"event": event})]
        )
    return int((await list_pushes(db, org_id, limit=1))[0]["id"])


async def push_row(db: Database, org_id: int, push_id: int) -> dict[str, Any]:
    """The stored row of one push."""
    [row] = [p for p in await list_pushes(db, org_id) if p["id"] == push_id]
    return row


async def deliver(
    db: Database,
    clock: FakeClock,
    client: OutboundHttp,
    *,
    allow_private: bool = True,
    resolve: Resolver = resolve_system,
) -> int:
    """One delivery round at the fake time; how many pushes were attempted."""
    delivery = PushDelivery(client=client, allow_private=allow_private, resolve=resolve)
    return await deliver_due_pushes(db, clock, delivery)


def body_of(payload: dict[str, Any]) -> bytes:
    """The bytes a payload is sent as: compact JSON, UTF-8."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


async def test_a_delivered_push_carries_the_exact_payload_and_verifiable_standard_headers(
    fresh_db: Database, clock: FakeClock, receiver: Receiver, client: OutboundHttp
) -> None:
    # standardwebhooks checks the timestamp against the real time, so fake "now" is real now.
    clock.set(datetime.now(UTC))
    org = await new_org(fresh_db, clock)
    payload: dict[str, Any] = {
        "id": "SMS20260101T080000-1-1",
        "message": "Salamat po! ñ ✓ 😀",
        "parts": 2,
        "done": True,
        "event": "accepted",
    }
    push_id = await queue(fresh_db, clock, org, receiver.url, payload)

    assert await deliver(fresh_db, clock, client) == 1

    [request] = receiver.requests
    assert (request.method, request.path) == ("POST", "/hook")
    assert request.body == body_of(payload)
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == f"push_{push_id}"
    assert request.headers["webhook-timestamp"] == str(int(clock.now().timestamp()))
    assert request.headers["webhook-signature"].startswith("v1,")
    secret = await read_webhook_secret(fresh_db, org)
    assert Webhook(secret).verify(request.body, request.headers) == payload
    assert verify_webhook(secret, request.headers, request.body, clock.now())
    assert not verify_webhook(secret, request.headers, request.body + b" ", clock.now())
    row = await push_row(fresh_db, org, push_id)
    assert row["status"] == DeliveryStatus.DELIVERED.value
    assert row["attempts"] == 1
    assert row["last_error"] == ""
    assert row["delivered_at"] == clock.now()
    assert row["payload"].encode("utf-8") == request.body
    # Delivered means done: nothing more is attempted, however late it gets.
    clock.advance(timedelta(days=2))
    assert await deliver(fresh_db, clock, client) == 0
    assert len(receiver.requests) == 1


async def test_each_organization_signs_its_pushes_with_its_own_secret(
    fresh_db: Database, clock: FakeClock, receiver: Receiver, client: OutboundHttp
) -> None:
    first = await new_org(fresh_db, clock, "First")
    second = await new_org(fresh_db, clock, "Second")
    await queue(fresh_db, clock, first, receiver.url, {"who": "first"})
    await queue(fresh_db, clock, second, receiver.url, {"who": "second"})

    assert await deliver(fresh_db, clock, client) == 2

    by_who = {json.loads(r.body)["who"]: r for r in receiver.requests}
    secrets = {
        "first": await read_webhook_secret(fresh_db, first),
        "second": await read_webhook_secret(fresh_db, second),
    }
    assert secrets["first"] != secrets["second"]
    for who, request in by_who.items():
        for owner, secret in secrets.items():
            valid = verify_webhook(secret, request.headers, request.body, clock.now())
            assert valid == (owner == who)


async def test_a_500_answer_is_retried_with_backoff_and_a_later_2xx_delivers_the_push(
    fresh_db: Database, clock: FakeClock, receiver: Receiver, client: OutboundHttp
) -> None:
    receiver.statuses = [500, 503, 204]
    org = await new_org(fresh_db, clock)
    push_id = await queue(fresh_db, clock, org, receiver.url)
    start = clock.now()

    assert await deliver(fresh_db, clock, client) == 1
    row = await push_row(fresh_db, org, push_id)
    assert (row["status"], row["attempts"], row["last_error"]) == ("pending", 1, "HTTP 500")
    # First retry: 10 s with ±20 % jitter.
    assert start + 8 * POLICY.base / 10 <= row["next_attempt_at"] <= start + 12 * POLICY.base / 10

    clock.advance(timedelta(seconds=7))
    assert await deliver(fresh_db, clock, client) == 0
    clock.set(row["next_attempt_at"] - TICK)
    assert await deliver(fresh_db, clock, client) == 0
    assert len(receiver.requests) == 1

    clock.set(start + timedelta(seconds=12) + TICK)
    second_try = clock.now()
    assert await deliver(fresh_db, clock, client) == 1
    row = await push_row(fresh_db, org, push_id)
    assert (row["status"], row["attempts"], row["last_error"]) == ("pending", 2, "HTTP 503")
    # Second retry: the delay doubles to 20 s, still with jitter.
    assert second_try + timedelta(seconds=16) <= row["next_attempt_at"]
    assert row["next_attempt_at"] <= second_try + timedelta(seconds=24)

    clock.advance(timedelta(seconds=15))
    assert await deliver(fresh_db, clock, client) == 0
    clock.set(second_try + timedelta(seconds=24) + TICK)
    assert await deliver(fresh_db, clock, client) == 1
    row = await push_row(fresh_db, org, push_id)
    assert (row["status"], row["attempts"], row["last_error"]) == ("delivered", 3, "")

    # Every attempt is the same message (one webhook-id, so receivers can deduplicate), each
    # signed afresh at its own time.
    assert len(receiver.requests) == 3
    assert {r.headers["webhook-id"] for r in receiver.requests} == {f"push_{push_id}"}
    assert len({r.headers["webhook-timestamp"] for r in receiver.requests}) == 3
    assert {r.body for r in receiver.requests} == {body_of({"event": "accepted"})}
    secret = await read_webhook_secret(fresh_db, org)
    last = receiver.requests[-1]
    assert verify_webhook(secret, last.headers, last.body, clock.now())


async def test_a_receiver_that_never_answers_2xx_is_given_up_after_24_hours(
    fresh_db: Database, clock: FakeClock, receiver: Receiver, client: OutboundHttp
) -> None:
    receiver.always = 500
    org = await new_org(fresh_db, clock)
    push_id = await queue(fresh_db, clock, org, receiver.url)
    start = clock.now()
    attempted_at: list[datetime] = []

    row = await push_row(fresh_db, org, push_id)
    while row["status"] == DeliveryStatus.PENDING.value and len(attempted_at) < 100:
        clock.set(row["next_attempt_at"])
        assert await deliver(fresh_db, clock, client) == 1
        attempted_at.append(clock.now())
        row = await push_row(fresh_db, org, push_id)

    assert row["status"] == DeliveryStatus.FAILED.value
    assert row["last_error"] == "HTTP 500"
    assert row["next_attempt_at"] is None
    assert row["attempts"] == len(attempted_at) == len(receiver.requests)
    assert attempted_at[-1] < start + PUSH_GIVE_UP_AFTER
    # Without jitter the schedule would give 32 attempts; jitter moves that a little.
    assert 25 <= len(attempted_at) <= 42
    gaps = [later - earlier for earlier, later in itertools.pairwise(attempted_at)]
    for number, gap in enumerate(gaps):
        nominal = min(POLICY.base * 2**number, POLICY.maximum)
        assert nominal * LOW <= gap <= nominal * HIGH
    assert max(gaps) <= POLICY.maximum * HIGH

    clock.set(start + PUSH_GIVE_UP_AFTER + timedelta(days=1))
    assert await deliver(fresh_db, clock, client) == 0
    assert len(receiver.requests) == len(attempted_at)


async def test_a_refused_connection_counts_as_a_failure_and_is_retried(
    fresh_db: Database, clock: FakeClock, client: OutboundHttp, refused_url: str
) -> None:
    org = await new_org(fresh_db, clock)
    push_id = await queue(fresh_db, clock, org, refused_url)

    assert await deliver(fresh_db, clock, client) == 1
    row = await push_row(fresh_db, org, push_id)
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert row["last_error"].startswith("ConnectError")
    first_retry = row["next_attempt_at"]
    assert first_retry <= clock.now() + timedelta(seconds=12)

    clock.set(first_retry)
    assert await deliver(fresh_db, clock, client) == 1
    row = await push_row(fresh_db, org, push_id)
    assert (row["status"], row["attempts"]) == ("pending", 2)
    assert row["next_attempt_at"] >= clock.now() + timedelta(seconds=16)


async def test_a_loopback_push_is_refused_without_a_request_when_private_is_not_allowed(
    fresh_db: Database, clock: FakeClock, receiver: Receiver, client: OutboundHttp
) -> None:
    org = await new_org(fresh_db, clock)
    push_id = await queue(fresh_db, clock, org, receiver.url)

    assert await deliver(fresh_db, clock, client, allow_private=False) == 1

    assert receiver.requests == []
    row = await push_row(fresh_db, org, push_id)
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert row["last_error"].startswith("refused address: 127.0.0.1 is refused")
    assert "loopback" in row["last_error"]
    assert row["next_attempt_at"] is None
    # A refusal is final: the push is never tried again.
    clock.advance(timedelta(hours=1))
    assert await deliver(fresh_db, clock, client) == 0
    assert receiver.requests == []


async def test_a_push_claimed_by_a_dead_worker_is_delivered_once_its_lease_has_passed(
    fresh_db: Database, clock: FakeClock, receiver: Receiver, client: OutboundHttp
) -> None:
    org = await new_org(fresh_db, clock)
    push_id = await queue(fresh_db, clock, org, receiver.url)
    async with fresh_db.write() as conn:
        claimed = await store.claim_due_pushes(
            conn, clock.now(), clock.now() + CLAIM_LEASE, 50, skip_locked=not fresh_db.is_sqlite
        )
    assert [p.id for p in claimed] == [push_id]
    # The worker that claimed it dies here and never records anything.

    assert await deliver(fresh_db, clock, client) == 0
    clock.advance(CLAIM_LEASE - TICK)
    assert await deliver(fresh_db, clock, client) == 0
    assert receiver.requests == []

    clock.advance(TICK)
    assert await deliver(fresh_db, clock, client) == 1
    [request] = receiver.requests
    assert request.headers["webhook-id"] == f"push_{push_id}"
    row = await push_row(fresh_db, org, push_id)
    assert (row["status"], row["attempts"]) == ("delivered", 1)
    assert row["lease_until"] is None


async def test_rotating_the_secret_changes_the_signature_and_the_secret_is_stable_between_reads(
    fresh_db: Database, clock: FakeClock, receiver: Receiver, client: OutboundHttp
) -> None:
    org = await new_org(fresh_db, clock)
    original = await read_webhook_secret(fresh_db, org)
    assert original.startswith("whsec_")
    assert await read_webhook_secret(fresh_db, org) == original
    await queue(fresh_db, clock, org, receiver.url, {"n": 1})
    await deliver(fresh_db, clock, client)

    rotated = await rotate_webhook_secret(fresh_db, org)
    assert rotated.startswith("whsec_")
    assert rotated != original
    assert await read_webhook_secret(fresh_db, org) == rotated
    assert await read_webhook_secret(fresh_db, org) == rotated
    await queue(fresh_db, clock, org, receiver.url, {"n": 1})
    await deliver(fresh_db, clock, client)

    before, after = receiver.requests
    now = clock.now()
    assert verify_webhook(original, before.headers, before.body, now)
    assert not verify_webhook(rotated, before.headers, before.body, now)
    assert verify_webhook(rotated, after.headers, after.body, now)
    assert not verify_webhook(original, after.headers, after.body, now)
    # The same id, time and body under the old secret would have given another signature.
    old_headers = sign_webhook(original, after.headers["webhook-id"], now, after.body)
    assert old_headers["webhook-signature"] != after.headers["webhook-signature"]


async def test_a_push_with_a_malformed_url_fails_alone_and_the_rest_of_the_batch_is_delivered(
    fresh_db: Database, clock: FakeClock, receiver: Receiver, client: OutboundHttp
) -> None:
    org = await new_org(fresh_db, clock)
    bad = await queue(fresh_db, clock, org, "ftp://127.0.0.1/hook")
    good = await queue(fresh_db, clock, org, receiver.url)

    assert await deliver(fresh_db, clock, client) == 2

    assert (await push_row(fresh_db, org, bad))["status"] == "failed"
    assert (await push_row(fresh_db, org, good))["status"] == "delivered"


async def test_a_push_claim_is_leased_for_the_claim_lease_setting(
    fresh_db: Database, clock: FakeClock, receiver: Receiver, client: OutboundHttp
) -> None:
    lease = timedelta(seconds=7)
    delivery = build_push_delivery(
        client, Settings(claim_lease_seconds=7, webhooks_allow_private=True)
    )
    org = await new_org(fresh_db, clock)
    push_id = await queue(fresh_db, clock, org, receiver.url)
    receiver.held = asyncio.Event()
    claimed_at = clock.now()
    # The first worker claims the push and hangs on the receiver's answer, as if it had died.
    stuck = asyncio.create_task(deliver_due_pushes(fresh_db, clock, delivery))
    await receiver.arrived.wait()
    assert (await push_row(fresh_db, org, push_id))["lease_until"] == claimed_at + lease

    clock.advance(lease - TICK)
    assert await deliver_due_pushes(fresh_db, clock, delivery) == 0
    clock.advance(TICK)
    receiver.held.set()
    assert await deliver_due_pushes(fresh_db, clock, delivery) == 1
    assert len(receiver.requests) == 2
    row = await push_row(fresh_db, org, push_id)
    assert (row["status"], row["attempts"]) == ("delivered", 1)
    # The first worker's late outcome no longer matches the lease, so it changes nothing.
    assert await stuck == 1
    assert (await push_row(fresh_db, org, push_id))["attempts"] == 1


async def test_a_push_to_a_name_that_does_not_exist_fails_at_once_and_is_not_retried(
    fresh_db: Database, clock: FakeClock, client: OutboundHttp
) -> None:
    org = await new_org(fresh_db, clock)
    push_id = await queue(fresh_db, clock, org, "http://hooks.invalid/hook")

    # The system resolver: a .invalid name is answered on this machine (RFC 6761).
    assert await deliver(fresh_db, clock, client, resolve=resolve_system) == 1

    row = await push_row(fresh_db, org, push_id)
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert row["last_error"].startswith("refused host: 'hooks.invalid' does not exist")
    assert row["next_attempt_at"] is None
    clock.advance(timedelta(hours=1))
    assert await deliver(fresh_db, clock, client) == 0


async def test_a_failed_name_lookup_is_retried_like_any_other_network_failure(
    fresh_db: Database, clock: FakeClock, client: OutboundHttp
) -> None:
    async def temporarily_failing(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    org = await new_org(fresh_db, clock)
    push_id = await queue(fresh_db, clock, org, "http://hooks.invalid/hook")

    assert await deliver(fresh_db, clock, client, resolve=temporarily_failing) == 1

    assert (await push_row(fresh_db, org, push_id))["status"] == "pending"


async def test_a_push_goes_only_to_the_address_the_guard_checked(
    fresh_db: Database, clock: FakeClock, receiver: Receiver, client: OutboundHttp
) -> None:
    # The name resolves only through the guard's resolver: the connection must use the address
    # the guard checked, not a second lookup (which would fail here, or be rebound elsewhere).
    async def guard_answer(host: str, port: int) -> list[str]:
        assert host == "hooks.invalid"
        return ["127.0.0.1"]

    org = await new_org(fresh_db, clock)
    push_id = await queue(fresh_db, clock, org, f"http://hooks.invalid:{receiver.port}/hook")

    await deliver(fresh_db, clock, client, allow_private=True, resolve=guard_answer)

    assert len(receiver.requests) == 1
    assert receiver.requests[0].headers["host"] == f"hooks.invalid:{receiver.port}"
    assert (await push_row(fresh_db, org, push_id))["status"] == "delivered"
