"""Gateway callbacks: receipts and inbound SMS from HTTP gateways, on a real message row.

A message is sent through the services and handed to the Vonage stand-in by the real
dispatcher over the HTTP gateway channel; the stand-in's webhooks then come back, in-process,
through the API app with GATEWAY_CALLBACK_ROUTES registered on it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import httpx
import pytest
from sqlalchemy import select

from tambuli.api.app import build_app
from tambuli.channels.base import HandOff, OutboundSms
from tambuli.channels.config.file import load_channel_config
from tambuli.channels.config.registry import route_all_to
from tambuli.channels.config.specs import (
    BodyFormat,
    ChannelConfig,
    HttpChannelConfig,
    HttpMethod,
    SimulatorChannelConfig,
)
from tambuli.channels.secrets import Secret
from tambuli.channels.sms.http_gateway import HttpGatewayChannel
from tambuli.channels.sms.http_presets import PRESET_DEFAULTS
from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tambuli.db.schema import early_receipts
from tambuli.messaging import listing
from tambuli.messaging.delivery import Dispatcher
from tambuli.messaging.models import Direction, MessageStatus
from tambuli.messaging.sending import SentMessage
from tambuli.messaging.store import MessageFilter
from tambuli.messaging.views import StoredMessage, render_record
from tambuli.outbound_http import OutboundHttp
from tambuli.services import build_services
from tambuli.settings import Settings
from tests.services.sms_world import SmsWorld
from tests.support.vonage_standin import (
    API_KEY,
    API_SECRET,
    VonageStandin,
    call_back,
    concatenated_inbound_fields,
    inbound_fields,
    receipt_fields,
    running_vonage_standin,
)

TOKEN = "cb-token-0123456789"
GENERIC_TOKEN = "generic-token"
NUMBER = "639171234567"
RECEIPTS = "/v1/channels/vonage/receipts"
INBOUND = "/v1/channels/vonage/inbound"


class CallingBackEarly(HttpGatewayChannel):
    """The gateway channel; a test may have the gateway call back before the record lands."""

    before_record: Callable[[list[HandOff]], Awaitable[None]] | None = None

    async def submit(self, messages: Sequence[OutboundSms]) -> list[HandOff]:
        answers = await super().submit(messages)
        if self.before_record is not None:
            await self.before_record(answers)
        return answers


@dataclass
class GatewayWorld:
    """The SMS world delivering through the Vonage stand-in, and the callback app's client."""

    sms: SmsWorld
    standin: VonageStandin
    dispatcher: Dispatcher
    client: httpx.AsyncClient
    channel: CallingBackEarly

    async def send_and_hand_off(self, text: str = "Hello") -> tuple[int, SentMessage]:
        """A message sent by a new organization and accepted by the stand-in."""
        org = await self.sms.new_org()
        sent = await self.sms.send(org, NUMBER, text)
        assert await self.dispatcher.dispatch_once() == 1
        stored = await self.sms.message(sent)
        assert stored.status == MessageStatus.ACCEPTED, stored.error
        return org, sent

    async def message(self, sent: SentMessage) -> StoredMessage:
        """The message as it is stored now."""
        return await self.sms.message(sent)

    async def inbound(self, org: int) -> list[StoredMessage]:
        """The organization's inbound messages, newest first."""
        page = await listing.list_messages_after(
            self.sms.db, org, MessageFilter(direction=Direction.INGRESS), None, 100
        )
        return list(page.messages)


def load_vonage_config(tmp_path: Path, url: str) -> HttpChannelConfig:
    """The Vonage preset from a config file, pointed at the stand-in."""
    path = tmp_path / "channels.toml"
    path.write_text(
        "[[channels]]\n"
        f'name = "vonage"\nkind = "http"\npreset = "vonage"\nurl = "{url}"\n'
        f'parts_per_second = 30\ncallback_token = "{TOKEN}"\n'
        '[[routes]]\nname = "all"\nchannels = ["vonage"]\n'
    )
    [config] = load_channel_config(path, {}, http_presets=PRESET_DEFAULTS).channels
    assert isinstance(config, HttpChannelConfig)
    return config


def generic_config(name: str, token: str | None) -> HttpChannelConfig:
    """A generic gateway channel (no preset)."""
    return HttpChannelConfig(
        name=name,
        preset=None,
        url="https://gateway.test/sms",
        method=HttpMethod.POST,
        body_format=BodyFormat.JSON,
        auth_header=None,
        fields=MappingProxyType({"to": "{to}", "text": "{text}"}),
        message_id_field="id",
        permanent_statuses=(),
        parts_per_second=5.0,
        callback_token=None if token is None else Secret(token),
    )


@pytest.fixture
def standin() -> Iterator[VonageStandin]:
    """A fresh Vonage stand-in."""
    with running_vonage_standin() as running:
        yield running


@pytest.fixture
async def world(
    fresh_db: Database, clock: FakeClock, standin: VonageStandin, tmp_path: Path
) -> AsyncIterator[GatewayWorld]:
    """Services, dispatcher and callback app on one database of the test's own."""
    vonage = load_vonage_config(tmp_path, standin.send_url)
    app = build_app(
        build_services(fresh_db, clock, Settings()),
        channel_config=ChannelConfig(
            channels=(
                vonage,
                generic_config("generic", GENERIC_TOKEN),
                generic_config("silent", None),
                SimulatorChannelConfig("simulator"),
            ),
            routes=(),
            source=None,
        ),
    )
    sms = SmsWorld(fresh_db, clock)
    secrets = {"api_key": Secret(API_KEY), "api_secret": Secret(API_SECRET)}
    async with OutboundHttp() as gateway_http:
        channel = CallingBackEarly(vonage, gateway_http, secret_fields=secrets)
        dispatcher = Dispatcher(
            fresh_db, clock, route_all_to(channel), sms.rules, random_unit=lambda: 0.5
        )
        # The app runs on the test's own event loop: database connections belong to one loop.
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]  # httpx's narrower ASGI type
        async with httpx.AsyncClient(transport=transport, base_url="http://tambuli.test") as client:
            yield GatewayWorld(sms, standin, dispatcher, client, channel)


async def test_a_form_receipt_confirms_the_message_it_names(world: GatewayWorld) -> None:
    _, sent = await world.send_and_hand_off()
    sms = world.standin.find_sent(str(sent.message.id))
    response = await call_back(world.client, RECEIPTS, receipt_fields(sms), token=TOKEN)
    assert response.status_code == 200, response.text
    assert response.json() == {"received": 1, "unmatched": 0}
    record = render_record(await world.message(sent))
    assert record.delivered_to_phone == "confirmed"


async def test_a_failed_receipt_by_get_with_a_bearer_token_names_the_spec_error(
    world: GatewayWorld,
) -> None:
    _, sent = await world.send_and_hand_off()
    sms = world.standin.find_sent(str(sent.message.id))
    response = await world.client.get(
        RECEIPTS,
        params=receipt_fields(sms, status="failed", err_code="3"),
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert response.status_code == 200, response.text
    record = render_record(await world.message(sent))
    assert (record.delivered_to_phone, record.delivery_error) == (
        "failed",
        "contact absent - permanent",
    )


async def test_a_long_message_is_settled_by_its_first_part_and_later_parts_are_kept_apart(
    world: GatewayWorld,
) -> None:
    _, sent = await world.send_and_hand_off("x" * 300)
    sms = world.standin.find_sent(str(sent.message.id))
    assert len(sms.message_ids) == 2
    second = await call_back(
        world.client, RECEIPTS, receipt_fields(sms, 1), as_json=True, token=TOKEN
    )
    assert second.status_code == 200 and second.json() == {"received": 1, "unmatched": 1}
    assert await kept_early(world) == [sms.message_ids[1]]
    first = await call_back(
        world.client, RECEIPTS, receipt_fields(sms, 0), as_json=True, token=TOKEN
    )
    assert first.json() == {"received": 1, "unmatched": 0}
    assert render_record(await world.message(sent)).delivered_to_phone == "confirmed"


async def kept_early(world: GatewayWorld) -> list[str]:
    """The operator message IDs of the receipts kept until their hand-off is recorded."""
    async with world.sms.db.read() as conn:
        rows = await conn.execute(select(early_receipts.c.operator_message_id))
        return sorted(r.operator_message_id for r in rows)


async def test_a_receipt_callback_that_overtakes_its_hand_off_is_applied_with_the_record(
    world: GatewayWorld,
) -> None:
    answered: list[httpx.Response] = []

    async def call_back_at_once(answers: list[HandOff]) -> None:
        for answer in answers:
            sms = world.standin.find_sent(str(answer.message_id))
            fields = receipt_fields(sms, status="failed", err_code="3")
            answered.append(await call_back(world.client, RECEIPTS, fields, token=TOKEN))

    world.channel.before_record = call_back_at_once
    _, sent = await world.send_and_hand_off()

    [response] = answered
    assert response.status_code == 200, response.text
    assert response.json() == {"received": 1, "unmatched": 1}
    record = render_record(await world.message(sent))
    assert (record.delivered_to_phone, record.delivery_error) == (
        "failed",
        "contact absent - permanent",
    )
    assert await kept_early(world) == []


async def test_a_receipt_whose_id_no_message_could_carry_is_answered_and_not_kept(
    world: GatewayWorld,
) -> None:
    response = await call_back(
        world.client,
        "/v1/channels/generic/receipts",
        {"message_id": "x" * 150, "status": "failed", "error": "blocked"},
        token=GENERIC_TOKEN,
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"received": 1, "unmatched": 1}
    assert await kept_early(world) == []


async def test_a_status_that_is_not_final_changes_nothing(world: GatewayWorld) -> None:
    _, sent = await world.send_and_hand_off()
    sms = world.standin.find_sent(str(sent.message.id))
    fields = receipt_fields(sms, status="buffered")
    response = await call_back(world.client, RECEIPTS, fields, token=TOKEN)
    assert response.json() == {"received": 0, "unmatched": 0}
    assert render_record(await world.message(sent)).delivered_to_phone == "unknown"


@pytest.mark.parametrize(
    ("path", "token", "status"),
    [
        (RECEIPTS, None, 401),
        (RECEIPTS, "not-the-token", 401),
        (RECEIPTS, TOKEN + "x", 401),
        (INBOUND, "", 401),
        ("/v1/channels/nowhere/receipts", TOKEN, 404),
        ("/v1/channels/silent/receipts", TOKEN, 404),
        ("/v1/channels/simulator/inbound", TOKEN, 404),
    ],
)
async def test_callbacks_need_the_channel_token(
    world: GatewayWorld, path: str, token: str | None, status: int
) -> None:
    fields = {"messageId": "X1", "status": "delivered"}
    response = await call_back(world.client, path, fields, token=token)
    assert response.status_code == status
    body = response.json()
    assert set(body) >= {"error", "errorCode"}
    if status == 401:
        assert body == {"error": "Invalid callback token", "errorCode": "auth.invalidtoken"}


async def test_a_wrong_bearer_token_is_refused_even_with_a_right_query_token(
    world: GatewayWorld,
) -> None:
    response = await world.client.post(
        RECEIPTS,
        params={"token": TOKEN},
        headers={"Authorization": "Bearer wrong"},
        data={"messageId": "X1", "status": "delivered"},
    )
    assert response.status_code == 401


async def test_an_inbound_reply_is_recorded_once_under_the_conversation(
    world: GatewayWorld,
) -> None:
    org, _ = await world.send_and_hand_off()
    fields = inbound_fields(NUMBER, "Tambuli", "YES please")
    for _ in range(2):
        response = await call_back(world.client, INBOUND, fields, token=TOKEN)
        assert response.status_code == 200, response.text
    [reply] = await world.inbound(org)
    assert (reply.sender, reply.recipient, reply.body) == (NUMBER, "Tambuli", "YES please")


async def test_a_concatenated_inbound_sms_is_joined_from_parts_in_any_order(
    world: GatewayWorld,
) -> None:
    org, _ = await world.send_and_hand_off()
    parts = concatenated_inbound_fields(NUMBER, "Tambuli", ["Part one, ", "two, ", "three."])
    for fields in (parts[2], parts[0]):
        response = await call_back(world.client, INBOUND, fields, as_json=True, token=TOKEN)
        assert response.status_code == 200, response.text
    assert await world.inbound(org) == []
    await call_back(world.client, INBOUND, parts[1], token=TOKEN)
    [reply] = await world.inbound(org)
    assert reply.body == "Part one, two, three."


async def test_a_generic_channel_reads_its_own_callback_fields(world: GatewayWorld) -> None:
    org, _ = await world.send_and_hand_off()
    inbound = await call_back(
        world.client,
        "/v1/channels/generic/inbound",
        {"from": "+" + NUMBER, "to": "Tambuli", "text": "STOP", "id": "g-1"},
        as_json=True,
        token=GENERIC_TOKEN,
    )
    assert inbound.status_code == 200, inbound.text
    [reply] = await world.inbound(org)
    assert (reply.sender, reply.body) == (NUMBER, "STOP")
    receipt = await call_back(
        world.client,
        "/v1/channels/generic/receipts",
        {"message_id": "nobody", "status": "failed", "error": "blocked"},
        token=GENERIC_TOKEN,
    )
    assert receipt.json() == {"received": 1, "unmatched": 1}


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"", "application/x-www-form-urlencoded"),
        (b"status=delivered", "application/x-www-form-urlencoded"),
        (b'{"messageId": "X1"', "application/json"),
        (b"[1, 2]", "application/json"),
        (b"[]", "application/json"),
        (b'{"messageId": "X1", "status": ""}', "application/json"),
        (b"\xff\xfe=1", "application/x-www-form-urlencoded"),
    ],
)
async def test_an_unreadable_receipt_is_refused_with_400(
    world: GatewayWorld, content: bytes, content_type: str
) -> None:
    response = await world.client.post(
        RECEIPTS,
        params={"token": TOKEN},
        content=content,
        headers={"Content-Type": content_type},
    )
    assert response.status_code == 400, response.text
    assert set(response.json()) >= {"error", "errorCode"}


async def test_an_unreadable_concatenation_is_refused_with_400(world: GatewayWorld) -> None:
    [fields, _] = concatenated_inbound_fields(NUMBER, "Tambuli", ["a", "b"])
    fields["concat-part"] = "3"
    response = await call_back(world.client, INBOUND, fields, token=TOKEN)
    assert response.status_code == 400
    assert response.json()["errorCode"] == "request.invalid"
