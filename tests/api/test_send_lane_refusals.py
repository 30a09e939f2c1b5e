"""Refusals and failures of a send, answered by the send lane over real HTTP as Litestar would.

The same app is served twice by granian, embedded in the test's own loop: once alone and once
behind the lane. Each request goes to both; status, headers and body must agree, the lane must
not hand the request to Litestar, and the send must be tried once per request (a counting
intake, the outbox's real one with a tally).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from granian.constants import Interfaces
from granian.log import LogLevels
from granian.server.embed import Server
from litestar.types import ASGIApp
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.api.app import build_app
from tambuli.api.runtime import ApiRuntime, runtime_of_app
from tambuli.api.send_lane import SendLane
from tambuli.billing import service as billing
from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tambuli.db.schema import messages
from tambuli.errors import TambuliError
from tambuli.messaging.intake import Draft, SmsIntake
from tambuli.messaging.views import StoredMessage
from tambuli.organizations import service as organizations
from tambuli.organizations.models import NewOrganization
from tambuli.services import build_services
from tambuli.settings import Settings
from tests.api.conftest import auth_header
from tests.api.test_send_lane import CountingApp
from tests.support.server import free_port

NUMBER = "639171234567"
FUNDS = 10_000_000
PATH = "/v1/sms/phonenumber"
# Headers that differ between any two answers, whoever gives them.
VARYING = {"date"}


class CountingIntake(SmsIntake):
    """The outbox's intake, counting the sends handed to it."""

    submitted = 0

    async def submit(self, draft: Draft) -> StoredMessage:
        """Count, then write as usual."""
        self.submitted += 1
        return await super().submit(draft)


class BrokenIntake(CountingIntake):
    """An intake whose every write fails the way a bug of ours would."""

    async def write_batch(
        self, conn: AsyncConnection, drafts: list[Draft]
    ) -> list[StoredMessage | TambuliError]:
        """Fail."""
        raise RuntimeError("the intake is broken")


@dataclass
class Served:
    """One app served alone and behind the lane, with its intake and organizations."""

    db: Database
    clock: FakeClock
    runtime: ApiRuntime
    litestar: CountingApp
    direct: httpx.AsyncClient
    lane: httpx.AsyncClient
    funded: NewOrganization
    broke: NewOrganization

    def use_intake(self, intake: CountingIntake) -> CountingIntake:
        """Give the outbox this intake."""
        self.runtime.outbox.intake = intake
        return intake

    async def both(self, org: NewOrganization) -> tuple[httpx.Response, httpx.Response, int]:
        """Litestar's answer, the lane's, and how often the lane handed over."""
        body = json.dumps(
            {"orgId": org.org_id, "message": "Hi", "fullPhoneNumber": NUMBER}
        ).encode()
        headers = {"Content-Type": "application/json"} | auth_header(org.token)
        direct = await self.direct.post(PATH, content=body, headers=headers)
        before = self.litestar.calls
        lane = await self.lane.post(PATH, content=body, headers=headers)
        return direct, lane, self.litestar.calls - before

    async def message_count(self) -> int:
        """Messages stored for every organization."""
        async with self.db.read() as conn:
            return int(
                (await conn.execute(select(func.count()).select_from(messages))).scalar_one()
            )


async def _wait_until_answering(client: httpx.AsyncClient, serving: asyncio.Task[None]) -> None:
    for _ in range(1500):
        if serving.done():
            serving.result()  # the server's own error (a port taken meanwhile, say)
            raise AssertionError("the embedded server stopped before answering")
        try:
            await client.get("/healthz")
            return
        except httpx.TransportError:
            await asyncio.sleep(0.02)  # waiting for the listener, not timing anything
    raise AssertionError("the embedded server never answered")


async def _serve(app: ASGIApp, port: int) -> tuple[Server, asyncio.Task[None]]:
    server = Server(
        app,
        address="127.0.0.1",
        port=port,
        interface=Interfaces.ASGI,
        log_level=LogLevels.error,
        log_enabled=False,
        log_access=False,
        websockets=False,
    )
    return server, asyncio.create_task(server.serve())


@pytest.fixture
async def served(fresh_db: Database, clock: FakeClock) -> AsyncIterator[Served]:
    """The API app on the test's database, served alone and behind the lane."""
    app = build_app(build_services(fresh_db, clock, Settings()))
    funded = await organizations.create_organization(fresh_db, clock, "Funded")
    await billing.credit_balance(fresh_db, clock, funded.org_id, FUNDS, "test funds")
    broke = await organizations.create_organization(fresh_db, clock, "Broke")
    counting = CountingApp(app)
    runtime = runtime_of_app(app)
    direct_port, lane_port = free_port(), free_port()
    servers = [
        await _serve(counting, direct_port),
        await _serve(SendLane(counting, runtime), lane_port),
    ]
    try:
        async with (
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{direct_port}") as direct,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{lane_port}") as lane,
        ):
            await _wait_until_answering(direct, servers[0][1])
            await _wait_until_answering(lane, servers[1][1])
            yield Served(fresh_db, clock, runtime, counting, direct, lane, funded, broke)
    finally:
        for server, task in servers:
            server.stop()  # type: ignore[no-untyped-call]  # granian has no annotations here
            await task


def _assert_same_answer(direct: httpx.Response, lane: httpx.Response) -> None:
    assert lane.status_code == direct.status_code, (direct.text, lane.text)
    assert lane.content == direct.content
    same = {k: v for k, v in direct.headers.items() if k not in VARYING}
    assert {k: v for k, v in lane.headers.items() if k not in VARYING} == same


async def test_a_send_without_money_is_refused_402_by_the_lane_as_by_litestar_and_tried_once(
    served: Served,
) -> None:
    intake = served.use_intake(CountingIntake(served.db, served.clock))
    direct, lane, handed_over = await served.both(served.broke)
    assert direct.status_code == 402, direct.text
    _assert_same_answer(direct, lane)
    assert lane.json() == {"error": direct.json()["error"]}
    assert handed_over == 0
    assert intake.submitted == 2  # once for Litestar's answer, once for the lane's
    assert await served.message_count() == 0
    assert (await billing.get_balance(served.db, served.broke.org_id)).balance_micro == 0


async def test_an_overloaded_server_answers_429_with_retry_after_from_the_lane_as_from_litestar(
    served: Served,
) -> None:
    intake = served.use_intake(CountingIntake(served.db, served.clock, max_waiting=0))
    direct, lane, handed_over = await served.both(served.funded)
    assert direct.status_code == 429, direct.text
    _assert_same_answer(direct, lane)
    assert lane.headers["retry-after"] == "1"
    assert lane.json()["errorCode"] == "request.overloaded"
    assert handed_over == 0
    assert intake.submitted == 2
    assert await served.message_count() == 0
    balance = await billing.get_balance(served.db, served.funded.org_id)
    assert balance.balance_micro == FUNDS


async def test_an_unexpected_failure_in_the_lane_is_logged_and_answered_500_as_litestar_does(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="tambuli.api")
    intake = served.use_intake(BrokenIntake(served.db, served.clock))
    direct, lane, handed_over = await served.both(served.funded)
    assert direct.status_code == 500, direct.text
    _assert_same_answer(direct, lane)
    assert lane.json() == {"error": "Internal server error", "errorCode": "server.error"}
    assert handed_over == 0
    assert intake.submitted == 2
    logged = [r for r in caplog.records if r.getMessage() == f"unhandled error on POST {PATH}"]
    assert len(logged) == 2  # Litestar's handler, then the lane
    assert all(r.exc_info and "the intake is broken" in str(r.exc_info[1]) for r in logged)
    assert await served.message_count() == 0
