"""A worker loop that fails is restarted after a pause on the process clock; one that keeps
failing makes the process refuse sends (`server.notready`) instead of taking money for them.

The fault is real: the webhook table is renamed away under the running workers, so the push
loop's claim fails on the database every time, until the table is given back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select

from tambuli.api.app import build_app
from tambuli.api.runtime import runtime_of_app
from tambuli.api.send_lane import SendLane
from tambuli.billing import service as billing
from tambuli.channels.sms.simulator import SimulatorChannel
from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tambuli.db.schema import messages
from tambuli.messaging.simulator_journal import DatabaseJournal
from tambuli.organizations import service as organizations
from tambuli.organizations.models import NewOrganization
from tambuli.services import build_services
from tambuli.settings import Settings
from tambuli.workers.restarts import FAILURES_BEFORE_NOT_READY, restart_delay
from tambuli.workers.runner import START_UP, Workers

FUNDS = 10_000_000
# Generous: the test waits for events, it never measures how fast they come.
EVENT_TIMEOUT_SECONDS = 60.0


async def wait_until(condition: Callable[[], bool]) -> None:
    """Wait (without asserting any speed) until `condition` holds."""
    deadline = time.monotonic() + EVENT_TIMEOUT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the condition never held")
        await asyncio.sleep(0.01)


async def rename_table(db: Database, old: str, new: str) -> None:
    """Rename a table (the same statement on SQLite and PostgreSQL)."""
    async with db.write() as conn:
        await conn.exec_driver_sql(f"ALTER TABLE {old} RENAME TO {new}")


@dataclass
class WorkerWorld:
    """Workers and the API of one process, on the test's own database."""

    db: Database
    clock: FakeClock
    workers: Workers
    client: httpx.AsyncClient
    org: NewOrganization

    async def send(self) -> httpx.Response:
        """POST /v1/sms/phonenumber as the organization."""
        body = {
            "orgId": self.org.org_id,
            "from": "Tambuli",
            "message": "Hi",
            "fullPhoneNumber": "639171234567",
        }
        headers = {"Authorization": f"Token {self.org.token}"}
        return await self.client.post("/v1/sms/phonenumber", json=body, headers=headers)

    async def balance(self) -> int:
        """The organization's spendable balance."""
        return (await billing.get_balance(self.db, self.org.org_id)).balance_micro

    async def message_count(self) -> int:
        """Messages stored for the organization."""
        async with self.db.read() as conn:
            query = select(func.count()).select_from(messages)
            return int(
                (await conn.execute(query.where(messages.c.org_id == self.org.org_id))).scalar_one()
            )


@pytest.fixture
async def world(fresh_db: Database, clock: FakeClock) -> AsyncIterator[WorkerWorld]:
    """A process's workers running beside its API, reached through the served ASGI app."""
    settings = Settings()
    org = await organizations.create_organization(fresh_db, clock, "Funded")
    await billing.credit_balance(fresh_db, clock, org.org_id, FUNDS, "test funds")
    services = build_services(fresh_db, clock, settings)
    workers = Workers(services)
    app = build_app(
        services,
        read_channel_health=workers.read_channel_health,
        read_worker_problems=workers.read_loop_problems,
    )
    served = SendLane(app, runtime_of_app(app))
    stop = asyncio.Event()
    running = asyncio.create_task(workers.run(stop))
    transport = httpx.ASGITransport(app=served)  # type: ignore[arg-type]
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://tambuli.test") as client:
            yield WorkerWorld(fresh_db, clock, workers, client, org)
    finally:
        stop.set()
        await running


def _counted_restarts(loop: str) -> float:
    found = REGISTRY.get_sample_value("tambuli_worker_loop_restarts_total", {"loop": loop})
    return found or 0.0


async def test_a_failing_loop_waits_on_the_clock_before_each_restart(world: WorkerWorld) -> None:
    await rename_table(world.db, "webhook_deliveries", "webhook_deliveries_away")
    await wait_until(lambda: "webhooks" in world.workers.loops)
    webhooks = world.workers.loops["webhooks"]
    await wait_until(lambda: webhooks.failures_in_a_row == 1)
    # Real time passes, the process clock does not: no restart.
    await asyncio.sleep(restart_delay(1).total_seconds() * 2)
    assert world.workers.loop_restarts["webhooks"] == 0
    assert webhooks.failures_in_a_row == 1
    counted = _counted_restarts("webhooks")
    world.clock.advance(restart_delay(1))
    await wait_until(lambda: webhooks.failures_in_a_row == 2)
    assert world.workers.loop_restarts["webhooks"] == 1
    # The metrics count the same restart.
    assert _counted_restarts("webhooks") == counted + 1
    assert restart_delay(2) == 2 * restart_delay(1)
    assert world.workers.read_loop_problems() == []
    # The other loops go on meanwhile.
    assert all(h.restarts == 0 for name, h in world.workers.loops.items() if name != "webhooks")


async def test_a_loop_that_keeps_failing_turns_sends_away_until_it_recovers(
    world: WorkerWorld,
) -> None:
    await rename_table(world.db, "webhook_deliveries", "webhook_deliveries_away")
    await wait_until(lambda: "webhooks" in world.workers.loops)
    webhooks = world.workers.loops["webhooks"]
    for failures in range(1, FAILURES_BEFORE_NOT_READY):
        await wait_until(lambda n=failures: webhooks.failures_in_a_row == n)  # type: ignore[misc]
        world.clock.advance(restart_delay(failures))
    await wait_until(lambda: webhooks.failing)
    assert world.workers.read_loop_problems() == [
        f"the webhooks loop failed {FAILURES_BEFORE_NOT_READY} times in a row"
    ]
    balance = await world.balance()

    refused = await world.send()

    assert refused.status_code == 503, refused.text
    assert refused.json()["errorCode"] == "server.notready"
    assert refused.headers["retry-after"]
    topup = await world.client.post(
        f"/v1/organizations/{world.org.org_id}/topup",
        json={"maxAmount": 100, "fullPhoneNumber": "639171234567"},
        headers={"Authorization": f"Token {world.org.token}"},
    )
    assert topup.status_code == 503, topup.text
    assert topup.json()["errorCode"] == "server.notready"
    assert await world.balance() == balance
    assert await world.message_count() == 0
    ready = await world.client.get("/readyz")
    assert ready.status_code == 503
    assert "the webhooks loop failed 3 times in a row" in ready.json()["reasons"]

    await rename_table(world.db, "webhook_deliveries_away", "webhook_deliveries")
    world.clock.advance(restart_delay(FAILURES_BEFORE_NOT_READY))
    await wait_until(lambda: webhooks.failures_in_a_row == 0)

    assert world.workers.read_loop_problems() == []
    assert world.workers.loop_restarts["webhooks"] == FAILURES_BEFORE_NOT_READY
    accepted = await world.send()
    assert accepted.status_code == 200, accepted.text
    assert await world.message_count() == 1
    assert (await world.client.get("/readyz")).status_code == 200


class ChannelThatFailsToOpen:
    """The simulator, except that its first `failures` opens raise, as a failed set-up does."""

    def __init__(self, inner: SimulatorChannel, failures: int) -> None:
        self._inner = inner
        self.failures = failures

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def open(self) -> None:
        """Fail while failures are left, then open the simulator."""
        if self.failures:
            self.failures -= 1
            raise OSError("cannot open the channel")
        await self._inner.open()


async def test_a_start_up_that_fails_is_tried_again_after_a_pause(
    fresh_db: Database, clock: FakeClock
) -> None:
    simulator = SimulatorChannel(
        DatabaseJournal(fresh_db), clock, receipt_delay=timedelta(0), parts_per_second=0
    )
    channel = ChannelThatFailsToOpen(simulator, failures=2)
    workers = Workers(build_services(fresh_db, clock, Settings()), channels=[channel])
    stop = asyncio.Event()
    running = asyncio.create_task(workers.run(stop))
    try:
        await wait_until(lambda: START_UP in workers.loops)
        start_up = workers.loops[START_UP]
        await wait_until(lambda: start_up.failures_in_a_row == 1)
        # Real time passes, the process clock does not: no restart.
        await asyncio.sleep(restart_delay(1).total_seconds() * 2)
        assert workers.loop_restarts[START_UP] == 0
        clock.advance(restart_delay(1))
        await wait_until(lambda: start_up.failures_in_a_row == 2)
        clock.advance(restart_delay(2))
        await wait_until(lambda: "dispatch 1" in workers.loops)
        assert start_up.failures_in_a_row == 0
        assert workers.loop_restarts[START_UP] == 2
        assert workers.read_loop_problems() == []
    finally:
        stop.set()
        await running
