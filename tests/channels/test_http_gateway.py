"""The HTTP gateway channel: the Vonage preset against its stand-in, generic configs in-process."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qsl

import pytest
from aiohttp import web
from multidict import CIMultiDictProxy

from tambuli.channels.base import Channel, LinkState, OutboundSms, Outcome, ReceiptStatus
from tambuli.channels.config.file import load_channel_config
from tambuli.channels.config.specs import BodyFormat, HttpChannelConfig, HttpMethod
from tambuli.channels.secrets import Secret
from tambuli.channels.sms.http_gateway import (
    DOWN_SECONDS,
    HttpGatewayChannel,
    build_request_fields,
    find_field,
)
from tambuli.channels.sms.http_presets import (
    PRESET_DEFAULTS,
    UnreadableCallback,
    read_vonage_answer,
    read_vonage_receipt,
)
from tambuli.clock import FakeClock
from tambuli.messaging.segments import segment_message
from tambuli.outbound_http import OutboundHttp
from tests.support.server import free_port
from tests.support.vonage_standin import (
    API_KEY,
    API_SECRET,
    SLOW_ENDING,
    SentSms,
    VonageStandin,
    receipt_fields,
    running_vonage_standin,
)

NUMBER = "639171234567"
CREDENTIALS = {"api_key": Secret(API_KEY), "api_secret": Secret(API_SECRET)}
NOW = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


def make_sms(
    message_id: int = 1, recipient: str = NUMBER, body: str = "Hello", sender: str = "Tambuli"
) -> OutboundSms:
    """An outbound SMS segmented as the delivery worker would."""
    segments = segment_message(body)
    return OutboundSms(
        message_id=message_id,
        sender=sender,
        recipient=recipient,
        body=body,
        parts=tuple(segments.parts),
        encoding=segments.encoding.value,
        attempt=1,
    )


@pytest.fixture
def standin() -> Iterator[VonageStandin]:
    """A fresh Vonage stand-in whose slow numbers outlast the channel's timeout."""
    with running_vonage_standin() as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[OutboundHttp]:
    """An HTTP client that ignores proxy settings: tests talk to 127.0.0.1 only."""
    async with OutboundHttp() as client:
        yield client


def load_vonage_config(tmp_path: Path, url: str, timeout_seconds: float = 10) -> HttpChannelConfig:
    """A Vonage channel read from a config file through the preset's defaults.

    The timeout is long enough for any answer of a busy machine; only the stand-in's slow
    numbers, which answer after the test, reach it.
    """
    path = tmp_path / "channels.toml"
    path.write_text(
        "[[channels]]\n"
        'name = "vonage"\nkind = "http"\npreset = "vonage"\n'
        f'url = "{url}"\nparts_per_second = 30\ntimeout_seconds = {timeout_seconds}\n'
        'callback_token = "cb-token"\n'
        '[[routes]]\nname = "all"\nchannels = ["vonage"]\n'
    )
    [config] = load_channel_config(path, {}, http_presets=PRESET_DEFAULTS).channels
    assert isinstance(config, HttpChannelConfig)
    return config


@pytest.fixture
def vonage(standin: VonageStandin, http: OutboundHttp, tmp_path: Path) -> HttpGatewayChannel:
    """The Vonage preset pointed at the stand-in, with the stand-in's credentials."""
    config = load_vonage_config(tmp_path, standin.send_url)
    return HttpGatewayChannel(config, http, secret_fields=CREDENTIALS)


async def test_a_message_is_sent_as_vonage_documents_and_accepted(
    vonage: HttpGatewayChannel, standin: VonageStandin
) -> None:
    [handoff] = await vonage.submit([make_sms(41, "+" + NUMBER)])
    [sent] = standin.sent
    assert handoff.outcome == Outcome.ACCEPTED
    assert (handoff.message_id, handoff.operator_message_id) == (41, sent.message_ids[0])
    assert handoff.accepted_parts == 1
    [request] = standin.requests
    assert request.content_type == "application/x-www-form-urlencoded"
    assert request.fields == {
        "api_key": API_KEY,
        "api_secret": API_SECRET,
        "from": "Tambuli",
        "to": NUMBER,
        "text": "Hello",
        "type": "text",
        "client-ref": "41",
        "status-report-req": "1",
    }
    assert await vonage.poll_events(_NoEvents()) == 0


async def test_a_long_message_goes_whole_and_reports_the_first_part_id(
    vonage: HttpGatewayChannel, standin: VonageStandin
) -> None:
    body = "x" * 400
    [handoff] = await vonage.submit([make_sms(body=body)])
    [sent] = standin.sent
    assert len(standin.requests) == 1 and sent.text == body
    assert len(sent.message_ids) == 3
    assert (handoff.operator_message_id, handoff.accepted_parts) == (sent.message_ids[0], 3)


async def test_a_unicode_message_is_sent_as_unicode(
    vonage: HttpGatewayChannel, standin: VonageStandin
) -> None:
    body = "Salamat po 🙏 " * 8
    [handoff] = await vonage.submit([make_sms(body=body)])
    [sent] = standin.sent
    assert (sent.kind, sent.text) == ("unicode", body)
    assert handoff.accepted_parts == len(sent.message_ids) == 2


@pytest.mark.parametrize(
    ("ending", "outcome", "error"),
    [
        ("0001", Outcome.TRANSIENT, "throttled"),
        ("0002", Outcome.PERMANENT, "invalid parameters"),
        ("0003", Outcome.TRANSIENT, "gateway HTTP 500"),
        ("0004", Outcome.TRANSIENT, "gateway timeout"),
    ],
)
async def test_each_refusal_maps_to_its_outcome_and_a_short_error(
    standin: VonageStandin,
    http: OutboundHttp,
    tmp_path: Path,
    ending: str,
    outcome: Outcome,
    error: str,
) -> None:
    # The slow number is answered only after the test, so a short timeout always runs out; the
    # others get a timeout no busy machine reaches.
    timeout = 0.5 if ending == SLOW_ENDING else 10
    config = load_vonage_config(tmp_path, standin.send_url, timeout_seconds=timeout)
    vonage = HttpGatewayChannel(config, http, secret_fields=CREDENTIALS)
    [handoff] = await vonage.submit([make_sms(recipient="63917123" + ending)])
    assert handoff.outcome == outcome, handoff.error
    assert handoff.error.startswith(error) and len(handoff.error) <= 200
    assert handoff.operator_message_id == ""


async def test_one_bad_answer_does_not_spoil_the_batch(
    vonage: HttpGatewayChannel, standin: VonageStandin
) -> None:
    batch = [make_sms(1), make_sms(2, "639171230004"), make_sms(3, "639171230003"), make_sms(4)]
    answers = await vonage.submit(batch)
    assert [a.message_id for a in answers] == [1, 2, 3, 4]
    outcomes = [a.outcome for a in answers]
    assert outcomes == [Outcome.ACCEPTED, Outcome.TRANSIENT, Outcome.TRANSIENT, Outcome.ACCEPTED]


async def test_wrong_credentials_are_transient_and_never_repeat_the_secret(
    standin: VonageStandin, http: OutboundHttp, tmp_path: Path
) -> None:
    config = load_vonage_config(tmp_path, standin.send_url)
    wrong = {"api_key": Secret(API_KEY), "api_secret": Secret("not-the-secret")}
    channel = HttpGatewayChannel(config, http, secret_fields=wrong)
    [handoff] = await channel.submit([make_sms()])
    assert handoff.outcome == Outcome.TRANSIENT
    assert handoff.error.startswith("invalid credentials")
    assert "not-the-secret" not in handoff.error and not standin.sent


async def test_a_gateway_nobody_listens_on_is_transient(http: OutboundHttp, tmp_path: Path) -> None:
    config = load_vonage_config(tmp_path, f"http://127.0.0.1:{free_port()}/sms/json")
    [handoff] = await HttpGatewayChannel(config, http).submit([make_sms()])
    assert handoff.outcome == Outcome.TRANSIENT
    assert handoff.error.startswith("gateway unreachable")


async def test_an_unreachable_gateway_is_down_for_a_while_then_offered_again(
    http: OutboundHttp, tmp_path: Path
) -> None:
    clock = FakeClock()
    config = load_vonage_config(tmp_path, f"http://127.0.0.1:{free_port()}/sms/json")
    channel: Channel = HttpGatewayChannel(config, http, clock=clock)
    await channel.open()
    assert channel.read_health().state == LinkState.UP
    await channel.submit([make_sms()])
    health = channel.read_health()
    assert (health.state, health.kind, health.parts_refused) == (LinkState.DOWN, "http", 1)
    assert channel.read_state() == LinkState.DOWN
    assert health.last_error.startswith("gateway unreachable")
    clock.advance(DOWN_SECONDS)
    assert channel.read_health().state == channel.read_state() == LinkState.UP
    await channel.close()
    assert channel.read_health().state == channel.read_state() == LinkState.STOPPED


async def test_health_counts_parts_sent_refused_and_throttled(
    vonage: HttpGatewayChannel,
) -> None:
    await vonage.submit([make_sms(1, body="x" * 200), make_sms(2, "639171230001")])
    health = vonage.read_health()
    assert (health.parts_sent, health.parts_refused, health.throttled) == (2, 1, 1)
    assert (health.state, health.window, health.in_flight) == (LinkState.UP, 16, 0)


async def test_a_batch_keeps_at_most_sixteen_requests_in_flight(
    standin: VonageStandin, http: OutboundHttp, tmp_path: Path
) -> None:
    # Held requests must not time out while the bound is checked.
    config = load_vonage_config(tmp_path, standin.send_url, timeout_seconds=120)
    vonage = HttpGatewayChannel(config, http, secret_fields=CREDENTIALS)
    standin.answering.clear()
    batch = asyncio.create_task(
        vonage.submit([make_sms(n, f"6391712{n:05d}") for n in range(10, 50)])
    )
    assert await asyncio.to_thread(standin.wait_for_in_flight, 16, 60)
    # No answer comes while the stand-in holds them, so a 17th request could only mean a broken
    # bound. A slow machine can only hide a broken bound here, never fail a working one.
    await asyncio.sleep(0.5)
    assert (len(standin.requests), vonage.read_health().in_flight) == (16, 16)
    standin.answering.set()
    answers = await batch
    assert all(a.outcome == Outcome.ACCEPTED for a in answers)
    assert len(standin.sent) == 40
    assert standin.most_in_flight == 16


# --- Vonage answers and receipts, read without a network --------------------------------------


def test_a_partly_accepted_answer_counts_only_the_accepted_parts() -> None:
    answer = read_vonage_answer(
        {
            "message-count": "2",
            "messages": [
                {"status": "0", "message-id": "AAA1"},
                {"status": "1", "error-text": "Throughput Rate Exceeded"},
            ],
        }
    )
    assert (answer.outcome, answer.operator_message_id, answer.parts) == (
        Outcome.ACCEPTED,
        "AAA1",
        1,
    )


@pytest.mark.parametrize(
    ("status", "err_code", "expected", "error"),
    [
        ("delivered", "0", ReceiptStatus.CONFIRMED, ""),
        ("expired", "1", ReceiptStatus.FAILED, "expired"),
        ("failed", "3", ReceiptStatus.FAILED, "contact absent - permanent"),
        ("failed", "6", ReceiptStatus.FAILED, "anti-spam filter"),
        ("rejected", "11", ReceiptStatus.FAILED, "no route"),
        ("failed", "12", ReceiptStatus.FAILED, "unreachable"),
        ("failed", "777", ReceiptStatus.FAILED, "unknown"),
        ("accepted", "0", None, ""),
        ("buffered", "0", None, ""),
        ("unknown", "0", None, ""),
    ],
)
def test_vonage_receipts_map_to_receipt_statuses_and_spec_words(
    status: str, err_code: str, expected: ReceiptStatus | None, error: str
) -> None:
    sms = SentSms(("0C00000000000001",), "Tambuli", NUMBER, "Hi", "text", "5")
    receipt = read_vonage_receipt("vonage", receipt_fields(sms, 0, status, err_code), NOW)
    if expected is None:
        assert receipt is None
        return
    assert receipt is not None
    assert (receipt.status, receipt.delivery_error) == (expected, error)
    assert receipt.operator_message_id == "0C00000000000001"
    assert receipt.at == datetime(2020, 1, 1, 14, 0, tzinfo=UTC)


def test_a_vonage_receipt_without_a_message_id_is_unreadable() -> None:
    with pytest.raises(UnreadableCallback):
        read_vonage_receipt("vonage", {"status": "delivered"}, NOW)


# --- Generic configs (no preset) against a gateway on 127.0.0.1 ------------------------------


def generic_config(**changes: Any) -> HttpChannelConfig:
    """A generic gateway answering {"data": {"id": …}}."""
    values: dict[str, Any] = {
        "name": "gateway",
        "preset": None,
        "url": "https://gateway.test/api/sms",
        "method": HttpMethod.POST,
        "body_format": BodyFormat.JSON,
        "auth_header": Secret("Bearer gw-token"),
        "fields": MappingProxyType(
            {
                "to": "{to}",
                "sender": "{from}",
                "message": "{text}",
                "ref": "tambuli-{reference}",
                "note": "{{literal}}",
            }
        ),
        "message_id_field": "data.id",
        "permanent_statuses": (400,),
        "parts_per_second": 10.0,
        "callback_token": None,
    }
    values.update(changes)
    return HttpChannelConfig(**values)


@dataclass(frozen=True)
class Recorded:
    """One request the recorder received."""

    method: str
    path: str
    query: dict[str, str]
    headers: CIMultiDictProxy[str]
    content: bytes


class Recorder:
    """A gateway on 127.0.0.1: records requests, answers as told, counts requests in flight."""

    def __init__(self, status: int = 200, body: bytes | None = None):
        self.status = status
        self.body = json.dumps({"data": {"id": "gw-1"}}).encode() if body is None else body
        self.requests: list[Recorded] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.url = ""
        # Cleared, answers wait until it is set again (to count the requests in flight).
        self.answering = asyncio.Event()
        self.answering.set()
        self._arrivals = asyncio.Condition()

    async def wait_for_in_flight(self, count: int) -> None:
        """Return once `count` requests are in flight at once."""
        async with self._arrivals:
            await self._arrivals.wait_for(lambda: self.in_flight >= count)

    async def handle(self, request: web.Request) -> web.Response:
        recorded = Recorded(
            request.method, request.path, dict(request.query), request.headers, await request.read()
        )
        async with self._arrivals:
            self.requests.append(recorded)
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            self._arrivals.notify_all()
        try:
            await self.answering.wait()
        finally:
            self.in_flight -= 1
        return web.Response(status=self.status, body=self.body)

    def config(self, **changes: Any) -> HttpChannelConfig:
        """The generic config, pointed at this gateway (started by `client`)."""
        return generic_config(url=f"{self.url}/api/sms", **changes)

    @asynccontextmanager
    async def client(self) -> AsyncIterator[OutboundHttp]:
        """Serve on a free port while the block runs; yields the channel's HTTP client."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}"
        try:
            async with OutboundHttp() as http:
                yield http
        finally:
            self.answering.set()
            await runner.cleanup()


EXPECTED_FIELDS = {
    "to": NUMBER,
    "sender": "Tambuli",
    "message": "Hi {name} & co",
    "ref": "tambuli-7",
    "note": "{literal}",
}


async def test_a_json_body_fills_every_template_and_sends_the_authorization() -> None:
    gateway = Recorder()
    async with gateway.client() as client:
        [handoff] = await HttpGatewayChannel(gateway.config(), client).submit(
            [make_sms(7, "+" + NUMBER, "Hi {name} & co")]
        )
    [request] = gateway.requests
    assert request.method == "POST" and request.path == "/api/sms"
    assert request.headers["authorization"] == "Bearer gw-token"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == EXPECTED_FIELDS
    assert (handoff.outcome, handoff.operator_message_id, handoff.accepted_parts) == (
        Outcome.ACCEPTED,
        "gw-1",
        1,
    )


async def test_a_form_body_carries_the_same_fields() -> None:
    gateway = Recorder()
    async with gateway.client() as client:
        channel = HttpGatewayChannel(gateway.config(body_format=BodyFormat.FORM), client)
        await channel.submit([make_sms(7, NUMBER, "Hi {name} & co")])
    [request] = gateway.requests
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert dict(parse_qsl(request.content.decode())) == EXPECTED_FIELDS


async def test_a_get_request_puts_the_fields_in_the_query() -> None:
    gateway = Recorder()
    async with gateway.client() as client:
        channel = HttpGatewayChannel(gateway.config(method=HttpMethod.GET), client)
        await channel.submit([make_sms(7, NUMBER, "Hi {name} & co")])
    [request] = gateway.requests
    assert request.method == "GET" and request.content == b""
    assert request.query == EXPECTED_FIELDS


@pytest.mark.parametrize(
    ("status", "body", "outcome", "operator_id"),
    [
        (200, b'{"ok": true}', Outcome.ACCEPTED, ""),
        (202, b"queued", Outcome.ACCEPTED, ""),
        (400, b'{"error": "bad number"}', Outcome.PERMANENT, ""),
        (422, b'{"error": "odd"}', Outcome.TRANSIENT, ""),
        (429, b"slow down", Outcome.TRANSIENT, ""),
        (503, b"", Outcome.TRANSIENT, ""),
    ],
)
async def test_generic_answers_map_by_status(
    status: int, body: bytes, outcome: Outcome, operator_id: str
) -> None:
    gateway = Recorder(status, body)
    async with gateway.client() as client:
        [handoff] = await HttpGatewayChannel(gateway.config(), client).submit([make_sms()])
    assert (handoff.outcome, handoff.operator_message_id) == (outcome, operator_id)
    if outcome != Outcome.ACCEPTED:
        assert handoff.error.startswith(f"gateway HTTP {status}")


async def test_an_answer_that_echoes_the_credentials_is_not_repeated() -> None:
    gateway = Recorder(401, b"bad header Bearer gw-token")
    async with gateway.client() as client:
        [handoff] = await HttpGatewayChannel(gateway.config(), client).submit([make_sms()])
    assert handoff.error == "gateway HTTP 401"


async def test_a_preset_answer_that_cannot_be_read_is_transient() -> None:
    gateway = Recorder(200, b"<html>proxy login</html>")
    async with gateway.client() as client:
        config = gateway.config(preset="vonage")
        [handoff] = await HttpGatewayChannel(config, client).submit([make_sms()])
    assert handoff.outcome == Outcome.TRANSIENT
    assert handoff.error == "unreadable gateway answer (HTTP 200)"


async def test_the_concurrency_bound_is_a_parameter() -> None:
    gateway = Recorder()
    gateway.answering.clear()
    async with gateway.client() as client:
        channel = HttpGatewayChannel(gateway.config(), client, max_concurrent=3)
        batch = asyncio.ensure_future(channel.submit([make_sms(n) for n in range(12)]))
        await asyncio.wait_for(gateway.wait_for_in_flight(3), 60)
        # Every answer is held: a fourth request could only come from a broken bound, and the
        # channel counts a request in flight before it is sent.
        for _ in range(100):
            await asyncio.sleep(0)
        assert channel.read_health().in_flight == 3 and len(gateway.requests) == 3
        gateway.answering.set()
        answers = await batch
    assert len(answers) == 12 and gateway.most_in_flight == 3


def test_templates_are_filled_and_ids_found_by_dotted_paths() -> None:
    fields = build_request_fields({"x": "{reference}:{to}"}, make_sms(9, "+" + NUMBER))
    assert fields == {"x": f"9:{NUMBER}"}
    body = {"messages": [{"message-id": "M1"}], "data": {"id": 5, "flag": True}}
    assert find_field(body, "messages.0.message-id") == "M1"
    assert find_field(body, "data.id") == "5"
    assert find_field(body, "messages.3.message-id") == ""
    assert find_field(body, "data.flag") == ""
    assert find_field(None, "data.id") == ""


class _NoEvents:
    async def record_receipts(self, receipts: Any) -> set[str]:
        raise AssertionError("an HTTP gateway never polls receipts")

    async def record_inbound(self, messages: Any) -> None:
        raise AssertionError("an HTTP gateway never polls inbound SMS")
