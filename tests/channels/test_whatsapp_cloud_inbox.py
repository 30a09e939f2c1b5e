"""A webhook read whole: inbound media fetched from the stand-in, and what Meta is answered."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tambuli.channels.base import Outcome
from tambuli.channels.secrets import Secret
from tambuli.channels.whatsapp.base import MediaKind, WhatsAppState
from tambuli.channels.whatsapp.cloud import CloudApiChannel
from tambuli.channels.whatsapp.cloud_config import WhatsAppCloudConfig
from tambuli.channels.whatsapp.cloud_inbox import build_media_fetcher, read_webhook
from tambuli.channels.whatsapp.cloud_media import InboundMediaFetcher, MediaRefused, drop_media
from tambuli.channels.whatsapp.cloud_webhooks import ParsedWebhook, parse_webhook, verify_signature
from tambuli.outbound_http import OutboundHttp
from tests.support.cloud_messages import make_message
from tests.support.graph_standin import (
    API_VERSION,
    APP_SECRET,
    PHONE_NUMBER_ID,
    TOKEN,
    GraphStandin,
    running_graph_standin,
)
from tests.support.graph_webhooks import (
    deliver_webhook,
    message_value,
    pushing_statuses,
    sign,
    status_value,
    wrap_value,
)
from tests.support.receiver import PushReceiver, running_receiver
from tests.support.server import free_port

SECRET = Secret(APP_SECRET)


def parse(value: dict[str, Any]) -> ParsedWebhook:
    """Parse a body around one change value, as the webhook route would."""
    return parse_webhook(json.dumps(wrap_value(value)).encode(), "whatsapp")


@pytest.fixture
def receiver() -> Iterator[PushReceiver]:
    """Where webhooks are delivered in these tests (the route is not part of the channel)."""
    with running_receiver() as running:
        yield running


@pytest.fixture
def standin() -> Iterator[GraphStandin]:
    """A fresh Graph API stand-in."""
    with running_graph_standin() as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[OutboundHttp]:
    """The channel's HTTP client (it ignores proxy settings: tests talk to 127.0.0.1 only)."""
    async with OutboundHttp() as client:
        yield client


@pytest.fixture
async def poster() -> AsyncIterator[httpx.AsyncClient]:
    """The client that posts webhooks as Meta does."""
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client


def make_config(standin: GraphStandin, token: str | None = TOKEN) -> WhatsAppCloudConfig:
    """The channel's config pointed at the stand-in."""
    return WhatsAppCloudConfig(
        name="whatsapp",
        app_secret=SECRET,
        verify_token=Secret("verify"),
        access_token=Secret(token) if token is not None else None,
        graph_url=standin.url,
        api_version=API_VERSION,
        # No pacing: these tests send a few messages and must never wait for real time.
        messages_per_second=0,
        timeout_seconds=10,
    )


def make_fetcher(
    standin: GraphStandin, http: OutboundHttp, token: str | None = TOKEN
) -> InboundMediaFetcher:
    """Fetches inbound media from the stand-in with the business number's token."""
    return build_media_fetcher(http, make_config(standin, token))


async def test_inbound_media_bytes_are_fetched_with_the_numbers_token(
    standin: GraphStandin, http: OutboundHttp, poster: httpx.AsyncClient, receiver: PushReceiver
) -> None:
    photo = b"\xff\xd8\xff\xe0 a photo"
    media_id = standin.add_inbound_media(photo, "image/jpeg")
    value = message_value(
        "image", {"caption": "receipt", "mime_type": "image/jpeg", "id": media_id}
    )
    await deliver_webhook(poster, receiver.url, wrap_value(value))
    [received] = receiver.received()
    assert verify_signature(received.body, received.headers["x-hub-signature-256"], SECRET)
    [pending] = parse_webhook(received.body, "whatsapp").inbound
    message = await make_fetcher(standin, http).fetch_media(pending)
    [media] = message.media
    assert (media.kind, media.data, media.content_type) == (MediaKind.IMAGE, photo, "image/jpeg")
    assert (media.caption, media.filename) == ("receipt", f"whatsapp-{media_id}.jpg")
    assert (
        message.text == "receipt" and message.operator_event_id == pending.message.operator_event_id
    )
    paths = [path for _, path in standin.requests]
    assert paths == [f"/{API_VERSION}/{media_id}", f"/download/{media_id}"]


async def test_a_message_without_media_needs_no_request(
    standin: GraphStandin, http: OutboundHttp
) -> None:
    [pending] = parse(message_value("text", {"body": "hi"})).inbound
    assert await make_fetcher(standin, http).fetch_media(pending) == pending.message
    assert standin.requests == []


async def test_media_meta_no_longer_has_is_refused_for_good_and_the_message_kept_without_it(
    standin: GraphStandin, http: OutboundHttp
) -> None:
    [pending] = parse(message_value("image", {"mime_type": "image/jpeg", "id": "404404"})).inbound
    with pytest.raises(MediaRefused) as refused:
        await make_fetcher(standin, http).fetch_media(pending)
    assert refused.value.refusal.outcome == Outcome.PERMANENT
    assert refused.value.refusal.error.startswith("media download: invalid parameter (100)")
    assert drop_media(pending).media == () and drop_media(pending).text == ""


@pytest.mark.parametrize("token", ["wrong-token", None])
async def test_a_refused_or_missing_token_is_transient_so_meta_delivers_again(
    standin: GraphStandin, http: OutboundHttp, token: str | None
) -> None:
    media_id = standin.add_inbound_media(b"voice", "audio/ogg")
    [pending] = parse(message_value("audio", {"mime_type": "audio/ogg", "id": media_id})).inbound
    with pytest.raises(MediaRefused) as refused:
        await make_fetcher(standin, http, token).fetch_media(pending)
    assert refused.value.refusal.outcome == Outcome.TRANSIENT


async def test_an_unreachable_graph_api_is_transient(http: OutboundHttp) -> None:
    fetcher = InboundMediaFetcher(
        http, f"http://127.0.0.1:{free_port()}/v23.0", lambda n: Secret(TOKEN), 5
    )
    [pending] = parse(message_value("video", {"mime_type": "video/mp4", "id": "1"})).inbound
    with pytest.raises(MediaRefused) as refused:
        await fetcher.fetch_media(pending)
    assert refused.value.refusal.outcome == Outcome.TRANSIENT
    assert refused.value.refusal.error.startswith("media download: WhatsApp unreachable")


async def test_a_download_larger_than_the_limit_is_cut_off(
    standin: GraphStandin, http: OutboundHttp
) -> None:
    media_id = standin.add_inbound_media(b"x" * 5000, "application/pdf")
    fetcher = InboundMediaFetcher(
        http, f"{standin.url}/{API_VERSION}", lambda n: Secret(TOKEN), 10, 1000
    )
    value = message_value(
        "document", {"filename": "big.pdf", "mime_type": "application/pdf", "id": media_id}
    )
    [pending] = parse(value).inbound
    with pytest.raises(MediaRefused) as refused:
        await fetcher.fetch_media(pending)
    assert refused.value.refusal == refused.value.refusal.__class__(
        Outcome.PERMANENT, "media download: file too large"
    )


# The webhook read whole


def _two_messages_with_media(first_id: str) -> dict[str, Any]:
    """One body: a delivered status, a text, and an image whose media ID is first_id."""
    body = wrap_value(status_value("wamid.sent1", "delivered"))
    text = message_value("text", {"body": "hi"}, wamid="wamid.in1")
    image = message_value("image", {"mime_type": "image/jpeg", "id": first_id}, wamid="wamid.in2")
    body["entry"][0]["changes"] += [
        {"field": "messages", "value": text},
        {"field": "messages", "value": image},
    ]
    return body


async def test_a_signed_body_is_read_whole_with_its_media(
    standin: GraphStandin, http: OutboundHttp, poster: httpx.AsyncClient, receiver: PushReceiver
) -> None:
    media_id = standin.add_inbound_media(b"jpeg", "image/jpeg")
    await deliver_webhook(poster, receiver.url, _two_messages_with_media(media_id))
    [received] = receiver.received()
    config = make_config(standin)
    content = await read_webhook(
        received.body, received.headers["x-hub-signature-256"], config, make_fetcher(standin, http)
    )
    assert content is not None and not content.deliver_again
    assert [(s.operator_message_id, s.state) for s in content.statuses] == [
        ("wamid.sent1", WhatsAppState.DELIVERED)
    ]
    text, image = content.inbound
    assert (text.text, text.media) == ("hi", ())
    assert [m.data for m in image.media] == [b"jpeg"]
    assert (content.skipped, content.reasons) == (0, ())


async def test_an_unsigned_or_forged_body_is_not_read(
    standin: GraphStandin, http: OutboundHttp
) -> None:
    body = json.dumps(wrap_value(status_value("wamid.x", "read"))).encode()
    fetcher = make_fetcher(standin, http)
    config = make_config(standin)
    assert await read_webhook(body, None, config, fetcher) is None
    assert await read_webhook(body, sign(body, "another-secret"), config, fetcher) is None
    assert await read_webhook(body + b" ", sign(body), config, fetcher) is None
    assert await read_webhook(body, sign(body), config, fetcher) is not None


async def test_media_not_fetchable_now_asks_meta_to_deliver_again_and_keeps_the_rest(
    standin: GraphStandin, http: OutboundHttp
) -> None:
    media_id = standin.add_inbound_media(b"jpeg", "image/jpeg")
    body = json.dumps(_two_messages_with_media(media_id)).encode()
    config = make_config(standin)
    refused = await read_webhook(body, sign(body), config, make_fetcher(standin, http, "revoked"))
    assert refused is not None and refused.deliver_again
    assert len(refused.statuses) == 1
    assert [m.operator_event_id for m in refused.inbound] == ["wamid.in1"]
    assert refused.reasons[0].startswith("message wamid.in2: media download:")
    # Meta delivers the same body again once the token is fixed: now everything is there.
    again = await read_webhook(body, sign(body), config, make_fetcher(standin, http))
    assert again is not None and not again.deliver_again
    assert [m.operator_event_id for m in again.inbound] == ["wamid.in1", "wamid.in2"]


async def test_reading_a_body_again_fetches_only_the_media_that_failed(
    standin: GraphStandin, http: OutboundHttp
) -> None:
    other_number = "106540352242999"
    standin.tokens[other_number] = "other-token"
    first = standin.add_inbound_media(b"jpeg", "image/jpeg")
    second = standin.add_inbound_media(b"png", "image/png", phone_number_id=other_number)
    document = wrap_value(
        message_value("image", {"mime_type": "image/jpeg", "id": first}, wamid="wamid.a")
    )
    late = message_value("image", {"mime_type": "image/png", "id": second}, wamid="wamid.b")
    late["metadata"] = {**late["metadata"], "phone_number_id": other_number}
    document["entry"][0]["changes"].append({"field": "messages", "value": late})
    body = json.dumps(document).encode()
    known = {PHONE_NUMBER_ID: TOKEN}
    fetcher = InboundMediaFetcher(
        http,
        f"{standin.url}/{API_VERSION}",
        lambda number: Secret(known[number]) if number in known else None,
        10,
    )
    config = make_config(standin)
    refused = await read_webhook(body, sign(body), config, fetcher)
    assert refused is not None and refused.deliver_again
    # The second number is registered meanwhile; the body is read again with the same fetcher.
    known[other_number] = "other-token"
    asked = len(standin.requests)
    again = await read_webhook(body, sign(body), config, fetcher)
    assert again is not None and not again.deliver_again
    assert [[m.data for m in message.media] for message in again.inbound] == [[b"jpeg"], [b"png"]]
    # Only the second file was asked for: its description, then its bytes.
    assert [path for _, path in standin.requests[asked:]] == [
        f"/{API_VERSION}/{second}",
        f"/download/{second}",
    ]


async def test_media_meta_no_longer_has_is_left_out_for_good(
    standin: GraphStandin, http: OutboundHttp
) -> None:
    body = json.dumps(_two_messages_with_media("999999")).encode()
    content = await read_webhook(
        body, sign(body), make_config(standin), make_fetcher(standin, http)
    )
    assert content is not None and not content.deliver_again
    text, image = content.inbound
    assert text.text == "hi"
    assert (image.operator_event_id, image.media) == ("wamid.in2", ())
    assert len(content.reasons) == 1


async def test_unreadable_parts_are_counted_and_the_body_still_answered(
    standin: GraphStandin, http: OutboundHttp
) -> None:
    value = message_value("sticker", {"id": "1", "mime_type": "image/webp"})
    body = json.dumps(wrap_value(value)).encode()
    content = await read_webhook(
        body, sign(body), make_config(standin), make_fetcher(standin, http)
    )
    assert content is not None
    assert (content.inbound, content.skipped, content.deliver_again) == ((), 1, False)


async def test_statuses_of_messages_the_channel_sent_come_back_signed_and_matched(
    standin: GraphStandin, http: OutboundHttp, receiver: PushReceiver
) -> None:
    config = make_config(standin)
    channel = CloudApiChannel(config, http)
    failing, reading = "639170000003", "639170000008"
    options: dict[str, Any] = {"failures": {failing: (131026, "Message undeliverable")}}
    with pushing_statuses(
        standin, f"{receiver.url}/v1/whatsapp/webhooks/whatsapp", **options, reads={reading}
    ) as pusher:
        handoffs = await channel.submit(
            [
                make_message(1),
                make_message(2, recipient=failing),
                make_message(3, recipient=reading),
            ]
        )
        await asyncio.to_thread(pusher.wait_until_pushed)
    assert set(pusher.answers) == {200}
    states: dict[str, list[WhatsAppState]] = {}
    for received in receiver.received():
        signature = received.headers["x-hub-signature-256"]
        content = await read_webhook(received.body, signature, config, make_fetcher(standin, http))
        assert content is not None and content.skipped == 0
        for status in content.statuses:
            states.setdefault(status.operator_message_id, []).append(status.state)
    sent, failed, read = (h.operator_message_id for h in handoffs)
    assert states == {
        sent: [WhatsAppState.SENT, WhatsAppState.DELIVERED],
        failed: [WhatsAppState.FAILED],
        read: [WhatsAppState.SENT, WhatsAppState.DELIVERED, WhatsAppState.READ],
    }
