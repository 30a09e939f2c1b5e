"""The send lane answers every send whose body it decodes exactly as Litestar's route does.

Each request goes once to the Litestar app alone and once through the lane in front of the same
app; the answers must agree. A counting wrapper records which requests reached Litestar, so a
lane that handed everything over would fail as surely as one that answered differently, and a
counting intake records how often a send was tried. Refusals are also compared over real HTTP
(granian embedded in the test's loop); the served app (`tambuli serve`) is the lane: the last
tests check what only a real server shows, bodies in many chunks and bodies over the size limit.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send
from sqlalchemy import func, select

from tambuli.api.app import build_app
from tambuli.api.runtime import ApiRuntime, runtime_of_app
from tambuli.api.send_lane import SendLane
from tambuli.billing import service as billing
from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tambuli.db.schema import messages
from tambuli.organizations import service as organizations
from tambuli.organizations.models import NewOrganization
from tambuli.services import build_services
from tambuli.settings import Settings
from tests.api.conftest import OrgApi, auth_header
from tests.api.test_request_errors_api import ONE_MIB, send_raw
from tests.conftest import OrgFactory
from tests.support.server import RunningServer

NUMBER = "639171234567"
FUNDS = 10_000_000
MESSAGE_ID = re.compile(rb'"messageId":"[^"]*"')


class CountingApp:
    """Passes requests to an ASGI app and counts the HTTP ones."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.calls = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Count, then pass on."""
        if scope["type"] == ScopeType.HTTP:
            self.calls += 1
        await self.app(scope, receive, send)


@dataclass
class LaneWorld:
    """One app served two ways, and a funded and an unfunded organization."""

    db: Database
    runtime: ApiRuntime
    litestar: CountingApp
    direct: httpx.AsyncClient
    lane: httpx.AsyncClient
    funded: NewOrganization
    broke: NewOrganization

    async def both(
        self, path: str, content: bytes, headers: dict[str, str]
    ) -> tuple[httpx.Response, httpx.Response, int]:
        """The answers of Litestar alone and of the lane, and how often the lane handed over."""
        direct = await self.direct.post(path, content=content, headers=headers)
        before = self.litestar.calls
        lane = await self.lane.post(path, content=content, headers=headers)
        return direct, lane, self.litestar.calls - before

    async def message_count(self, org_id: int) -> int:
        """Messages stored for an organization."""
        async with self.db.read() as conn:
            query = select(func.count()).select_from(messages).where(messages.c.org_id == org_id)
            return int((await conn.execute(query)).scalar_one())


@pytest.fixture
async def world(fresh_db: Database, clock: FakeClock) -> AsyncIterator[LaneWorld]:
    """The API app on the test's own database, reached directly and through the lane."""
    app = build_app(build_services(fresh_db, clock, Settings()))
    funded = await organizations.create_organization(fresh_db, clock, "Funded")
    await billing.credit_balance(fresh_db, clock, funded.org_id, FUNDS, "test funds")
    broke = await organizations.create_organization(fresh_db, clock, "Broke")
    counting = CountingApp(app)
    runtime = runtime_of_app(app)
    lane = SendLane(counting, runtime)
    base = "http://tambuli.test"
    # httpx's ASGI type is narrower than Litestar's; both apps follow the ASGI spec.
    direct_transport = httpx.ASGITransport(app=counting)  # type: ignore[arg-type]
    lane_transport = httpx.ASGITransport(app=lane)  # type: ignore[arg-type]
    async with (
        httpx.AsyncClient(transport=direct_transport, base_url=base) as direct,
        httpx.AsyncClient(transport=lane_transport, base_url=base) as through_lane,
    ):
        yield LaneWorld(fresh_db, runtime, counting, direct, through_lane, funded, broke)


def _json_headers(token: str | None) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    return headers | auth_header(token) if token is not None else headers


def _body(org: NewOrganization, **fields: Any) -> bytes:
    return json.dumps({"orgId": org.org_id, "from": "Tambuli", "message": "Hi", **fields}).encode()


def _without_id(content: bytes) -> bytes:
    return MESSAGE_ID.sub(b'"messageId":""', content)


def _assert_same_answer(direct: httpx.Response, lane: httpx.Response) -> None:
    assert lane.status_code == direct.status_code, (direct.text, lane.text)
    assert lane.headers["content-type"] == direct.headers["content-type"]
    assert int(lane.headers["content-length"]) == len(lane.content)
    assert _without_id(lane.content) == _without_id(direct.content)


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/v1/sms/phonenumber", {"fullPhoneNumber": NUMBER}),
        ("/v1/sms/phonenumber", {"phoneNumber": "09171234567", "phoneNumberCountry": "PH"}),
        ("/v1/sms/phonenumber", {"to": "+" + NUMBER, "clientRef": "r-1", "message": "Kumusta 👋"}),
        ("/v1/sms/contact", {"fullPhoneNumber": NUMBER, "message": "Hi {firstName}"}),
        ("/v1/sms/phonenumber", {"fullPhoneNumber": NUMBER, "type": "sms", "currency": "USD"}),
        ("/v1/sms/contact", {"fullPhoneNumber": NUMBER, "contactType": "NORMAL", "x": {"y": 1}}),
    ],
)
async def test_a_successful_send_is_answered_by_the_lane_as_litestar_answers_it(
    world: LaneWorld, path: str, fields: dict[str, Any]
) -> None:
    body = _body(world.funded, **fields)
    direct, lane, handed_over = await world.both(path, body, _json_headers(world.funded.token))
    assert direct.status_code == 200, direct.text
    _assert_same_answer(direct, lane)
    assert handed_over == 0
    assert lane.json()["messageId"] != direct.json()["messageId"]
    assert await world.message_count(world.funded.org_id) == 2


@pytest.mark.parametrize("path", ["/v1/sms/phonenumber", "/v1/sms/contact"])
async def test_the_lane_and_litestar_both_log_the_fields_they_ignore_at_debug_level(
    world: LaneWorld, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    caplog.set_level(logging.DEBUG, logger="tambuli.api")
    body = _body(world.funded, fullPhoneNumber=NUMBER, type="sms", email="ana@example.org")
    direct, lane, handed_over = await world.both(path, body, _json_headers(world.funded.token))
    assert (direct.status_code, lane.status_code, handed_over) == (200, 200, 0)
    ignored = [r.getMessage() for r in caplog.records if "ignored unknown" in r.getMessage()]
    assert ignored == [f"{path} ignored unknown request fields: type, email"] * 2


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("malformed JSON", b'{"orgId": %d, "message": "Hi", "fullPhoneNumber": "%s"'),
        ("not UTF-8", b'{"orgId": %d, "message": "\xff\xfe", "fullPhoneNumber": "%s"}'),
        ("wrong type", b'{"orgId": %d, "message": 7, "fullPhoneNumber": "%s"}'),
        ("not an object", b'[%d, "%s"]'),
    ],
)
async def test_a_body_the_lane_cannot_decode_is_handed_to_litestar_and_the_hand_over_logged(
    world: LaneWorld, caplog: pytest.LogCaptureFixture, name: str, content: bytes
) -> None:
    caplog.set_level(logging.DEBUG, logger="tambuli.api")
    body = content % (world.funded.org_id, NUMBER.encode())
    headers = _json_headers(world.funded.token)
    direct, lane, handed_over = await world.both("/v1/sms/phonenumber", body, headers)
    assert direct.status_code == 400, (name, direct.text)
    _assert_same_answer(direct, lane)
    assert lane.json()["errorCode"]
    assert handed_over == 1
    hand_overs = [r for r in caplog.records if "handing POST" in r.getMessage()]
    assert len(hand_overs) == 1 and hand_overs[0].exc_info is not None
    assert await world.message_count(world.funded.org_id) == 0


async def test_a_body_over_the_limit_is_handed_to_litestar_for_its_413_and_the_hand_over_logged(
    world: LaneWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="tambuli.api")
    limit = world.runtime.settings.max_body_bytes
    body = _body(world.funded, fullPhoneNumber=NUMBER, message="x" * limit)
    headers = _json_headers(world.funded.token)
    direct, lane, handed_over = await world.both("/v1/sms/phonenumber", body, headers)
    assert direct.status_code == 413, direct.text
    _assert_same_answer(direct, lane)
    assert handed_over == 1
    assert any("handing POST" in r.getMessage() for r in caplog.records)
    assert await world.message_count(world.funded.org_id) == 0


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("no number", b'{"orgId": %d, "message": "Hi", "clientRef": "%s"}'),
        ("bad number", b'{"orgId": %d, "message": "Hi", "fullPhoneNumber": "1%s"}'),
        ("empty text", b'{"orgId": %d, "message": " ", "fullPhoneNumber": "%s"}'),
    ],
)
async def test_a_send_refused_for_its_fields_gets_litestars_400_from_the_lane(
    world: LaneWorld, name: str, content: bytes
) -> None:
    body = content % (world.funded.org_id, NUMBER.encode())
    headers = _json_headers(world.funded.token)
    direct, lane, handed_over = await world.both("/v1/sms/phonenumber", body, headers)
    assert direct.status_code == 400, (name, direct.text)
    _assert_same_answer(direct, lane)
    assert lane.json()["errorCode"]
    assert handed_over == 0
    assert await world.message_count(world.funded.org_id) == 0


@pytest.mark.parametrize("token", [None, "Token not-a-real-token", "Bearer x"])
async def test_a_send_without_a_valid_token_gets_litestars_401(
    world: LaneWorld, token: str | None
) -> None:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = token
    body = _body(world.funded, fullPhoneNumber=NUMBER)
    direct, lane, handed_over = await world.both("/v1/sms/phonenumber", body, headers)
    assert direct.status_code == 401
    _assert_same_answer(direct, lane)
    assert handed_over == 0
    assert await world.message_count(world.funded.org_id) == 0


async def test_a_send_without_money_gets_litestars_402(world: LaneWorld) -> None:
    body = _body(world.broke, fullPhoneNumber=NUMBER)
    headers = _json_headers(world.broke.token)
    direct, lane, handed_over = await world.both("/v1/sms/phonenumber", body, headers)
    assert direct.status_code == 402
    _assert_same_answer(direct, lane)
    assert handed_over == 0
    assert await world.message_count(world.broke.org_id) == 0


async def test_a_repeated_client_dedup_gets_litestars_409_and_queues_nothing_more(
    world: LaneWorld,
) -> None:
    body = _body(world.funded, fullPhoneNumber=NUMBER, clientDedup="once")
    headers = _json_headers(world.funded.token)
    first = await world.lane.post("/v1/sms/phonenumber", content=body, headers=headers)
    assert first.status_code == 200
    direct, lane, handed_over = await world.both("/v1/sms/phonenumber", body, headers)
    assert direct.status_code == 409
    assert lane.content == direct.content
    assert lane.json()["dedupMessageId"] == first.json()["messageId"]
    assert handed_over == 0
    assert await world.message_count(world.funded.org_id) == 1


async def test_a_failure_after_queueing_is_a_500_and_never_queues_the_message_again(
    world: LaneWorld, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse_to_wake() -> None:
        raise RuntimeError("the delivery worker is gone")

    world.runtime.wake_delivery = refuse_to_wake
    body = _body(world.funded, fullPhoneNumber=NUMBER)
    before = world.litestar.calls
    response = await world.lane.post(
        "/v1/sms/phonenumber", content=body, headers=_json_headers(world.funded.token)
    )
    assert response.status_code == 500
    assert response.json() == {"error": "Internal server error", "errorCode": "server.error"}
    assert world.litestar.calls == before
    assert await world.message_count(world.funded.org_id) == 1
    assert "the delivery worker is gone" in caplog.text


async def test_other_routes_and_methods_go_straight_to_litestar(world: LaneWorld) -> None:
    headers = _json_headers(world.funded.token)
    before = world.litestar.calls
    balance = await world.lane.get(
        f"/v1/organizations/{world.funded.org_id}/balance.json", headers=headers
    )
    wrong_method = await world.lane.get("/v1/sms/phonenumber", headers=headers)
    assert balance.status_code == 200
    assert wrong_method.status_code == 405
    assert world.litestar.calls - before == 2


def _chunked(data: bytes, size: int) -> bytes:
    parts = [
        b"%x\r\n%s\r\n" % (len(data[i : i + size]), data[i : i + size])
        for i in range(0, len(data), size)
    ]
    return b"".join(parts) + b"0\r\n\r\n"


async def _queued_count(api: OrgApi) -> int:
    response = await api.call("GET", f"{api.base}/messages/", None)
    assert response.status_code == 200, response.text
    return len(response.json()["messages"])


async def test_a_body_sent_in_many_small_chunks_is_read_whole(
    server: RunningServer, http: httpx.AsyncClient, make_org: OrgFactory
) -> None:
    api = OrgApi(server, await make_org(FUNDS), http)
    body = _body(api.org, fullPhoneNumber=NUMBER, message="Chunk " * 50)
    head = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    status, answer = await send_raw(api, "POST", "/v1/sms/phonenumber", head, _chunked(body, 7))
    assert status == 200, answer
    assert answer["message"] == "Chunk " * 50
    assert await _queued_count(api) == 1


async def test_a_chunked_send_over_one_mib_is_413_and_queues_nothing(
    server: RunningServer, http: httpx.AsyncClient, make_org: OrgFactory
) -> None:
    api = OrgApi(server, await make_org(FUNDS), http)
    body = _body(api.org, fullPhoneNumber=NUMBER, message="x" * ONE_MIB)
    head = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    status, answer = await send_raw(
        api, "POST", "/v1/sms/phonenumber", head, _chunked(body, 65_536)
    )
    assert status == 413
    assert answer["errorCode"] == "request.toolarge"
    assert await _queued_count(api) == 0
