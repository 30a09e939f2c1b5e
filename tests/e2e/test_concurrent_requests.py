"""Bursts of concurrent requests at one `tambuli serve` on PostgreSQL.

Every request of a burst answers and none with a 5xx; a pool that is still exhausted answers
503 `server.busy` with Retry-After after a bounded wait, never a hang or a 500.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from tambuli.billing import service as billing
from tambuli.clock import SystemClock
from tambuli.db.engine import Database
from tambuli.db.migrate import apply_migrations
from tambuli.organizations import service as organizations
from tambuli.organizations.models import NewOrganization
from tests.support.databases import postgres_url, scratch_database_url
from tests.support.server import RunningServer, running_server

pytestmark = pytest.mark.postgres

CONCURRENCY = 200
FUNDS_MICRO = 1_000_000_000
# Generous: the assertions are about outcomes, never about how long a request took.
CLIENT_TIMEOUT = httpx.Timeout(120.0)
CAMPAIGN = {
    "name": "Burst",
    "kind": "drip",
    "steps": [{"delay": {"unit": "day", "value": 1, "time": "09:00"}, "message": "Tip one"}],
}


@pytest.fixture(scope="module")
def postgres_only() -> None:
    """Skip unless the suite has a PostgreSQL server."""
    if postgres_url() is None:
        pytest.skip("postgres: TAMBULI_TEST_DATABASE_URL is not set")


@pytest.fixture(scope="module")
async def database_url(
    postgres_only: None, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """An empty PostgreSQL database of this module's own (the server migrates it)."""
    async with scratch_database_url("postgres", tmp_path_factory.mktemp("pg")) as url:
        yield url


async def _funded_org(database_url: str) -> NewOrganization:
    db = Database(database_url)
    try:
        await apply_migrations(db)
        created = await organizations.create_organization(db, SystemClock(), "Burst")
        await billing.credit_balance(db, SystemClock(), created.org_id, FUNDS_MICRO, "test")
    finally:
        await db.dispose()
    return created


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """`tambuli serve` (with its workers) on the module's database, at the default pool size.

    The pool's wait is raised from 5 s to 60: on a busy machine a burst may keep every
    connection in use for longer than 5 s, and a 503 then says how fast the machine is, not
    whether a request waits on itself (which no wait ends). How long answers take is measured
    by bench/burst_load.py, not asserted here.
    """
    env = {"TAMBULI_DB_POOL_WAIT_SECONDS": "60"}
    with running_server(database_url, tmp_path_factory.mktemp("serve"), env) as running:
        yield running


@pytest.fixture(scope="module")
async def org(server: RunningServer) -> NewOrganization:
    """A funded organization on the server's database."""
    return await _funded_org(server.database_url)


def _number(kind: int, i: int, last: str = "9") -> str:
    # A number of its own per request; the last digit keeps clear of the simulators'
    # behaviour suffixes (0001, 0002, ...).
    return f"63917{kind}{i:05d}{last}"


def _sms_to_contact(org: NewOrganization, i: int) -> tuple[str, str, dict[str, Any]]:
    body = {"orgId": org.org_id, "from": "Tambuli", "message": "Hi", "fullPhoneNumber": ""}
    return "POST", "/v1/sms/contact", {**body, "fullPhoneNumber": _number(1, i)}


def _sms_to_number(org: NewOrganization, i: int) -> tuple[str, str, dict[str, Any]]:
    body = {"orgId": org.org_id, "from": "Tambuli", "message": "Hi"}
    return "POST", "/v1/sms/phonenumber", {**body, "fullPhoneNumber": _number(2, i)}


def _contact_create(org: NewOrganization, i: int) -> tuple[str, str, dict[str, Any]]:
    body = {"fullPhoneNumber": _number(3, i), "firstName": f"Ana {i}"}
    return "POST", f"/v1/organizations/{org.org_id}/contacts/", body


def _topup(org: NewOrganization, i: int) -> tuple[str, str, dict[str, Any]]:
    body = {"fullPhoneNumber": "+" + _number(4, i, last="0"), "maxAmount": 25}
    return "POST", f"/v1/organizations/{org.org_id}/topup/", body


Request = tuple[str, str, dict[str, Any]]
KINDS: dict[str, Callable[[NewOrganization, int], Request]] = {
    "sms to contact": _sms_to_contact,
    "sms to number": _sms_to_number,
    "contact create": _contact_create,
    "top-up": _topup,
}


async def _burst(
    server: RunningServer, org: NewOrganization, requests: list[Request]
) -> list[httpx.Response]:
    headers = {"Authorization": f"Token {org.token}"}
    limits = httpx.Limits(max_connections=len(requests), max_keepalive_connections=0)
    async with httpx.AsyncClient(
        base_url=server.base_url, headers=headers, timeout=CLIENT_TIMEOUT, limits=limits
    ) as client:
        return await asyncio.gather(
            *(client.request(method, path, json=body) for method, path, body in requests)
        )


def _statuses(answers: list[httpx.Response]) -> Counter[int]:
    return Counter(answer.status_code for answer in answers)


@pytest.mark.parametrize("kind", list(KINDS))
async def test_two_hundred_concurrent_requests_of_a_kind_all_succeed(
    server: RunningServer, org: NewOrganization, kind: str
) -> None:
    requests = [KINDS[kind](org, i) for i in range(CONCURRENCY)]
    answers = await _burst(server, org, requests)
    assert _statuses(answers) == {200: CONCURRENCY}, [a.text for a in answers[:3]]


async def test_two_hundred_concurrent_subscriptions_all_succeed(
    server: RunningServer, org: NewOrganization
) -> None:
    headers = {"Authorization": f"Token {org.token}"}
    base = f"{server.base_url}/v1/organizations/{org.org_id}"
    async with httpx.AsyncClient(headers=headers, timeout=CLIENT_TIMEOUT) as client:
        made = await client.post(f"{base}/campaigns/", json=CAMPAIGN)
        assert made.status_code == 201, made.text
        campaign_id = made.json()["campaignId"]
        launched = await client.post(f"{base}/campaigns/{campaign_id}/launch")
        assert launched.status_code == 200, launched.text
    path = f"/v1/organizations/{org.org_id}/engagements/{campaign_id}/subscribe"
    requests = [("POST", path, {"fullPhoneNumber": _number(5, i)}) for i in range(CONCURRENCY)]
    answers = await _burst(server, org, requests)
    assert _statuses(answers) == {200: CONCURRENCY}, [a.text for a in answers[:3]]
    assert len({a.json()["runId"] for a in answers}) == CONCURRENCY


async def _wait_for_a_lock_wait(admin: asyncpg.Connection, database: str) -> None:
    """Until a backend of the server waits for a row lock (the test's), or give up.

    `admin` must not be in a transaction: PostgreSQL shows one snapshot of the activity view
    per transaction.
    """
    for _ in range(600):
        waiting = await admin.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'",
            database,
        )
        if waiting:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the server's request never reached the locked row")


async def test_an_exhausted_pool_answers_503_server_busy_with_retry_after(
    postgres_only: None, tmp_path: Path
) -> None:
    # One connection, taken by a send that waits for a row this test keeps locked: every
    # other request finds the pool empty and must be told to come back, not kept waiting.
    env = {
        "TAMBULI_DB_POOL_SIZE": "1",
        "TAMBULI_DB_POOL_OVERFLOW": "0",
        "TAMBULI_DB_POOL_WAIT_SECONDS": "0.2",
    }
    async with scratch_database_url("postgres", tmp_path) as database_url:
        org = await _funded_org(database_url)
        busy, finished = await _hold_the_only_connection(database_url, tmp_path, env, org)
    assert busy.status_code == 503, busy.text
    assert busy.json() == {
        "error": busy.json()["error"],
        "errorCode": "server.busy",
    }
    assert busy.json()["error"]
    assert int(busy.headers["Retry-After"]) >= 1
    assert finished.status_code == 200, finished.text


async def _hold_the_only_connection(
    database_url: str, tmp_path: Path, env: dict[str, str], org: NewOrganization
) -> tuple[httpx.Response, httpx.Response]:
    """The answer to a request while the pool's connection is held, and to the held request."""
    url = make_url(database_url)
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with running_server(database_url, tmp_path, env, ["--no-workers"]) as server:
        headers = {"Authorization": f"Token {org.token}"}
        async with httpx.AsyncClient(
            base_url=server.base_url, headers=headers, timeout=CLIENT_TIMEOUT
        ) as client:
            # Warm the token, price and profile caches, so the held send needs one connection.
            method, path, body = _sms_to_contact(org, 0)
            warm = await client.request(method, path, json=body)
            assert warm.status_code == 200, warm.text
            locker = await asyncpg.connect(dsn)
            watcher = await asyncpg.connect(dsn)
            try:
                locking = locker.transaction()
                await locking.start()
                await locker.execute(
                    "SELECT id FROM organizations WHERE id = $1 FOR UPDATE", org.org_id
                )
                held = asyncio.create_task(client.request(method, path, json=body))
                await _wait_for_a_lock_wait(watcher, str(url.database))
                busy = await client.get(f"/v1/organizations/{org.org_id}/balance.json")
                await locking.rollback()
                finished = await held
            finally:
                await locker.close()
                await watcher.close()
    return busy, finished
