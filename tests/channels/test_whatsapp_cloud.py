"""The Cloud API channel over real HTTP against the Graph API stand-in on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tambuli.channels.base import LinkState, Outcome
from tambuli.channels.config import Secret
from tambuli.channels.whatsapp.base import (
    Media,
    MediaKind,
    OutboundWhatsApp,
    Template,
    WhatsAppChannel,
)
from tambuli.channels.whatsapp.cloud import DOWN_SECONDS, CloudApiChannel, NumberPacer
from tambuli.channels.whatsapp.cloud_config import WhatsAppCloudConfig
from tambuli.clock import FakeClock
from tests.support.graph_standin import (
    API_VERSION,
    APP_SECRET,
    BUSINESS_NUMBER,
    OTHER_PHONE_NUMBER_ID,
    OTHER_TOKEN,
    PHONE_NUMBER_ID,
    TOKEN,
    GraphStandin,
    running_graph_standin,
)
from tests.support.server import free_port

RECIPIENT = "639171234567"


class FakeTimer:
    """Monotonic time that moves only when told; sleeps are recorded, never slept."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))


def make_media(kind: MediaKind, data: bytes = b"", filename: str = "") -> Media:
    """A file as the feature hands it over, its SHA-1 computed as Files stores it."""
    content_types = {
        MediaKind.IMAGE: "image/jpeg",
        MediaKind.AUDIO: "audio/ogg",
        MediaKind.VIDEO: "video/mp4",
        MediaKind.DOCUMENT: "application/pdf",
    }
    data = data or f"{kind.value} bytes".encode()
    return Media(
        kind=kind,
        filename=filename or f"file.{kind.value}",
        content_type=content_types[kind],
        sha1=hashlib.sha1(data, usedforsecurity=False).hexdigest(),
        data=data,
    )


def make_message(
    message_id: int = 1,
    *,
    text: str = "Hello from Tambuli",
    recipient: str = RECIPIENT,
    template: Template | None = None,
    media: tuple[Media, ...] = (),
    phone_number_id: str = PHONE_NUMBER_ID,
) -> OutboundWhatsApp:
    """One outbound message from the stand-in's business number."""
    return OutboundWhatsApp(
        message_id=message_id,
        phone_number_id=phone_number_id,
        sender=BUSINESS_NUMBER,
        recipient=recipient,
        text=text,
        template=template,
        media=media,
        attempt=1,
    )


def make_config(standin: GraphStandin, **changes: Any) -> WhatsAppCloudConfig:
    """The channel's config pointed at the stand-in."""
    config = WhatsAppCloudConfig(
        name="whatsapp",
        app_secret=Secret(APP_SECRET),
        verify_token=Secret("verify-me"),
        access_token=Secret(TOKEN),
        graph_url=standin.url,
        api_version=API_VERSION,
        messages_per_second=80,
        max_concurrent=8,
        timeout_seconds=10,
    )
    return replace(config, **changes)


@pytest.fixture
def standin() -> Iterator[GraphStandin]:
    """A fresh stand-in with one template of two body parameters and one of none."""
    with running_graph_standin() as running:
        running.templates[("order_ready", "en_US")] = 2
        running.templates[("hello_world", "en_US")] = 0
        yield running


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client that ignores proxy settings: tests talk to 127.0.0.1 only."""
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client


@pytest.fixture
def timer() -> FakeTimer:
    """The pacer's time."""
    return FakeTimer()


def make_channel(
    standin: GraphStandin,
    http: httpx.AsyncClient,
    timer: FakeTimer,
    clock: FakeClock | None = None,
    **changes: Any,
) -> CloudApiChannel:
    """A channel on the stand-in; the other number has its own token."""
    config = make_config(standin, **changes)
    tokens = {OTHER_PHONE_NUMBER_ID: Secret(OTHER_TOKEN)}
    return CloudApiChannel(
        config,
        http,
        find_token=lambda number: tokens.get(number, config.access_token),
        clock=clock,
        pacer=NumberPacer(config.messages_per_second, timer.monotonic, timer.sleep),
    )


@pytest.fixture
def channel(standin: GraphStandin, http: httpx.AsyncClient, timer: FakeTimer) -> CloudApiChannel:
    """The channel as a worker would start it."""
    return make_channel(standin, http, timer)


def _envelope(kind: str, part: dict[str, Any], to: str = RECIPIENT) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": kind,
        kind: part,
    }


async def test_a_text_is_sent_as_meta_documents_and_accepted_with_its_wamid(
    channel: CloudApiChannel, standin: GraphStandin
) -> None:
    typed: WhatsAppChannel = channel
    [handoff] = await typed.submit([make_message(41, recipient="+" + RECIPIENT)])
    [sent] = standin.sent
    assert (handoff.message_id, handoff.outcome) == (41, Outcome.ACCEPTED)
    assert (handoff.operator_message_id, handoff.accepted_parts) == (sent.wamid, 1)
    assert sent.phone_number_id == PHONE_NUMBER_ID
    assert sent.body == _envelope("text", {"body": "Hello from Tambuli"})
    assert standin.requests == [("POST", f"/{API_VERSION}/{PHONE_NUMBER_ID}/messages")]
    assert await channel.poll_events(_NoEvents()) == 0


async def test_a_template_carries_its_name_language_and_body_parameters(
    channel: CloudApiChannel, standin: GraphStandin
) -> None:
    template = Template("order_ready", "en_US", ("Maria", "A-1042"))
    [handoff] = await channel.submit([make_message(text="", template=template)])
    [sent] = standin.sent
    assert handoff.outcome == Outcome.ACCEPTED and handoff.operator_message_id == sent.wamid
    parameters = [{"type": "text", "text": "Maria"}, {"type": "text", "text": "A-1042"}]
    assert sent.body == _envelope(
        "template",
        {
            "name": "order_ready",
            "language": {"code": "en_US"},
            "components": [{"type": "body", "parameters": parameters}],
        },
    )


async def test_a_template_without_parameters_has_no_components(
    channel: CloudApiChannel, standin: GraphStandin
) -> None:
    [handoff] = await channel.submit([make_message(template=Template("hello_world", "en_US"))])
    assert handoff.outcome == Outcome.ACCEPTED
    assert standin.sent[0].body["template"] == {
        "name": "hello_world",
        "language": {"code": "en_US"},
    }


async def test_a_template_with_an_image_sends_it_as_the_header(
    channel: CloudApiChannel, standin: GraphStandin
) -> None:
    image = make_media(MediaKind.IMAGE)
    template = Template("order_ready", "en_US", ("Maria", "A-1042"))
    [handoff] = await channel.submit([make_message(template=template, media=(image,))])
    assert handoff.outcome == Outcome.ACCEPTED
    [upload] = standin.uploads
    [header, body] = standin.sent[0].body["template"]["components"]
    assert header == {
        "type": "header",
        "parameters": [{"type": "image", "image": {"id": upload.media_id}}],
    }
    assert body["type"] == "body"


async def test_a_template_with_audio_or_two_files_is_refused_before_any_request(
    channel: CloudApiChannel, standin: GraphStandin
) -> None:
    template = Template("hello_world", "en_US")
    audio = make_media(MediaKind.AUDIO)
    two = (make_media(MediaKind.IMAGE), make_media(MediaKind.DOCUMENT))
    handoffs = await channel.submit(
        [
            make_message(1, template=template, media=(audio,)),
            make_message(2, template=template, media=two),
        ]
    )
    assert [h.outcome for h in handoffs] == [Outcome.PERMANENT, Outcome.PERMANENT]
    assert "template carries at most one" in handoffs[0].error
    assert standin.requests == []


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (MediaKind.IMAGE, {"caption": "Hello from Tambuli"}),
        (MediaKind.VIDEO, {"caption": "Hello from Tambuli"}),
        (MediaKind.DOCUMENT, {"caption": "Hello from Tambuli", "filename": "report.pdf"}),
    ],
)
async def test_each_captioned_media_kind_goes_by_its_uploaded_id_with_the_text_as_caption(
    channel: CloudApiChannel, standin: GraphStandin, kind: MediaKind, expected: dict[str, str]
) -> None:
    media = make_media(kind, filename="report.pdf")
    [handoff] = await channel.submit([make_message(media=(media,))])
    [upload] = standin.uploads
    [sent] = standin.sent
    assert handoff.outcome == Outcome.ACCEPTED and handoff.operator_message_id == sent.wamid
    assert (upload.data, upload.content_type, upload.filename) == (
        media.data,
        media.content_type,
        "report.pdf",
    )
    assert sent.body == _envelope(kind.value, {"id": upload.media_id, **expected})


async def test_audio_has_no_caption_so_its_text_goes_first_as_a_text_message(
    channel: CloudApiChannel, standin: GraphStandin
) -> None:
    [handoff] = await channel.submit([make_message(media=(make_media(MediaKind.AUDIO),))])
    [upload] = standin.uploads
    text, audio = standin.sent
    assert text.body == _envelope("text", {"body": "Hello from Tambuli"})
    assert audio.body == _envelope("audio", {"id": upload.media_id})
    assert handoff.operator_message_id == text.wamid


async def test_audio_alone_is_one_message(channel: CloudApiChannel, standin: GraphStandin) -> None:
    [handoff] = await channel.submit([make_message(text="", media=(make_media(MediaKind.AUDIO),))])
    [sent] = standin.sent
    assert sent.kind == "audio" and handoff.operator_message_id == sent.wamid


async def test_several_files_go_one_message_each_with_the_caption_on_the_first_that_takes_one(
    channel: CloudApiChannel, standin: GraphStandin
) -> None:
    files = (
        make_media(MediaKind.AUDIO),
        make_media(MediaKind.IMAGE),
        make_media(MediaKind.DOCUMENT, filename="a.pdf"),
    )
    [handoff] = await channel.submit([make_message(media=files)])
    assert [s.kind for s in standin.sent] == ["audio", "image", "document"]
    assert "caption" not in standin.sent[0].body["audio"]
    assert standin.sent[1].body["image"]["caption"] == "Hello from Tambuli"
    assert standin.sent[2].body["document"] == {
        "id": standin.uploads[2].media_id,
        "filename": "a.pdf",
    }
    assert handoff.operator_message_id == standin.sent[0].wamid


async def test_a_file_is_uploaded_once_per_number_and_its_id_reused(
    standin: GraphStandin, http: httpx.AsyncClient, timer: FakeTimer
) -> None:
    clock = FakeClock()
    channel = make_channel(standin, http, timer, clock)
    image = make_media(MediaKind.IMAGE)
    # Concurrent messages with one new file still upload it once.
    first = await channel.submit([make_message(n, media=(image,)) for n in range(1, 6)])
    again = await channel.submit([make_message(6, media=(image,))])
    other = await channel.submit(
        [make_message(7, media=(image,), phone_number_id=OTHER_PHONE_NUMBER_ID)]
    )
    assert all(h.outcome == Outcome.ACCEPTED for h in first + again + other)
    assert [u.phone_number_id for u in standin.uploads] == [PHONE_NUMBER_ID, OTHER_PHONE_NUMBER_ID]
    ids = {s.body["image"]["id"] for s in standin.sent if s.phone_number_id == PHONE_NUMBER_ID}
    assert ids == {standin.uploads[0].media_id}
    # Meta forgets uploads after 30 days; the channel uploads again well before.
    clock.advance(timedelta(days=26))
    await channel.submit([make_message(8, media=(image,))])
    assert len(standin.uploads) == 3


class _NoEvents:
    async def record_statuses(self, statuses: Any) -> None:
        raise AssertionError("no statuses expected")

    async def record_inbound(self, messages: Any) -> None:
        raise AssertionError("no inbound expected")


@pytest.mark.parametrize(
    ("status", "code", "outcome", "error"),
    [
        (429, 130429, Outcome.TRANSIENT, "throttled: number's throughput limit (130429)"),
        (400, 4, Outcome.TRANSIENT, "throttled: too many API calls (4)"),
        (400, 80007, Outcome.TRANSIENT, "throttled: account rate limit (80007)"),
        (400, 131056, Outcome.TRANSIENT, "throttled: too many messages to this recipient (131056)"),
        (429, None, Outcome.TRANSIENT, "WhatsApp HTTP 429"),
        (503, None, Outcome.TRANSIENT, "WhatsApp HTTP 503"),
        (500, 131000, Outcome.TRANSIENT, "provider error (131000)"),
        (
            400,
            131047,
            Outcome.PERMANENT,
            "outside the 24-hour window: a template is required (131047)",
        ),
        (
            400,
            131026,
            Outcome.PERMANENT,
            "undeliverable: recipient not on WhatsApp or cannot receive it (131026)",
        ),
        (400, 100, Outcome.PERMANENT, "invalid parameter (100)"),
        (400, 132015, Outcome.PERMANENT, "template paused (132015)"),
        (400, 132999, Outcome.PERMANENT, "template refused (132999)"),
        (400, 999999, Outcome.PERMANENT, "WhatsApp error 999999: odd"),
        (404, None, Outcome.PERMANENT, "WhatsApp HTTP 404"),
    ],
)
async def test_each_refusal_becomes_its_outcome(
    channel: CloudApiChannel,
    standin: GraphStandin,
    status: int,
    code: int | None,
    outcome: Outcome,
    error: str,
) -> None:
    standin.refuse(RECIPIENT, status, code, "odd")
    [handoff] = await channel.submit([make_message(7)])
    assert (handoff.message_id, handoff.outcome, handoff.error) == (7, outcome, error)
    assert handoff.operator_message_id == ""


async def test_templates_meta_does_not_know_are_refused_for_good(
    channel: CloudApiChannel,
) -> None:
    unknown, mismatch = await channel.submit(
        [
            make_message(1, template=Template("nope", "en_US")),
            make_message(2, template=Template("order_ready", "en_US", ("only one",))),
        ]
    )
    assert (unknown.outcome, unknown.error) == (
        Outcome.PERMANENT,
        "template does not exist in this language (132001)",
    )
    assert (mismatch.outcome, mismatch.error) == (
        Outcome.PERMANENT,
        "template parameter count mismatch (132000)",
    )


async def test_a_wrong_token_refuses_sends_and_uploads_for_good(
    standin: GraphStandin, http: httpx.AsyncClient, timer: FakeTimer
) -> None:
    channel = make_channel(standin, http, timer, access_token=Secret("expired"))
    text, image = await channel.submit(
        [make_message(1), make_message(2, media=(make_media(MediaKind.IMAGE),))]
    )
    assert (text.outcome, text.error) == (
        Outcome.PERMANENT,
        "access token expired or invalid (190)",
    )
    assert (image.outcome, image.error) == (
        Outcome.PERMANENT,
        "media upload: access token expired or invalid (190)",
    )
    assert standin.sent == [] and standin.uploads == []


async def test_a_number_without_a_token_is_refused_without_a_request(
    standin: GraphStandin, http: httpx.AsyncClient
) -> None:
    channel = CloudApiChannel(make_config(standin, access_token=None), http)
    [handoff] = await channel.submit([make_message()])
    assert (handoff.outcome, handoff.error) == (
        Outcome.PERMANENT,
        "no access token for this business number",
    )
    assert standin.requests == []


async def test_a_server_error_page_is_transient_and_reports_the_channel_down(
    standin: GraphStandin, http: httpx.AsyncClient, timer: FakeTimer
) -> None:
    clock = FakeClock()
    channel = make_channel(standin, http, timer, clock)
    standin.refuse(RECIPIENT, 500, None)
    [handoff] = await channel.submit([make_message()])
    assert (handoff.outcome, handoff.error) == (Outcome.TRANSIENT, "WhatsApp HTTP 500")
    assert channel.read_state() == LinkState.DOWN
    clock.advance(DOWN_SECONDS)
    assert channel.read_state() == LinkState.UP


async def test_no_answer_in_time_is_transient(
    standin: GraphStandin, http: httpx.AsyncClient, timer: FakeTimer
) -> None:
    channel = make_channel(standin, http, timer, timeout_seconds=0.3)
    standin.answer_slowly(RECIPIENT)
    [handoff] = await channel.submit([make_message()])
    assert (handoff.outcome, handoff.error) == (Outcome.TRANSIENT, "WhatsApp timeout")
    assert channel.read_health().last_error == "WhatsApp timeout"


async def test_no_connection_is_transient(
    standin: GraphStandin, http: httpx.AsyncClient, timer: FakeTimer
) -> None:
    channel = make_channel(standin, http, timer, graph_url=f"http://127.0.0.1:{free_port()}")
    [handoff] = await channel.submit([make_message()])
    assert handoff.outcome == Outcome.TRANSIENT
    assert handoff.error == "WhatsApp unreachable (ConnectError)"
    assert channel.read_state() == LinkState.DOWN


async def test_a_refused_message_does_not_hold_up_the_rest_of_the_batch(
    channel: CloudApiChannel, standin: GraphStandin
) -> None:
    standin.refuse("639170000001", 400, 131026)
    handoffs = await channel.submit(
        [make_message(1), make_message(2, recipient="639170000001"), make_message(3)]
    )
    assert [h.outcome for h in handoffs] == [Outcome.ACCEPTED, Outcome.PERMANENT, Outcome.ACCEPTED]
    assert [h.message_id for h in handoffs] == [1, 2, 3]
    health = channel.read_health()
    assert (health.parts_sent, health.parts_refused, health.kind) == (2, 1, "whatsapp_cloud")


async def test_each_number_is_paced_to_messages_per_second(
    standin: GraphStandin, http: httpx.AsyncClient, timer: FakeTimer
) -> None:
    channel = make_channel(standin, http, timer, messages_per_second=10)
    ours = [make_message(n) for n in range(1, 5)]
    theirs = [make_message(n, phone_number_id=OTHER_PHONE_NUMBER_ID) for n in range(5, 8)]
    handoffs = await channel.submit(ours + theirs)
    assert all(h.outcome == Outcome.ACCEPTED for h in handoffs)
    # Slots 0.1 s apart per number: the first of each goes at once, the others wait their turn.
    assert sorted(timer.sleeps) == [0.1, 0.1, 0.2, 0.2, 0.3]
    timer.sleeps.clear()
    timer.now += 0.35
    await channel.submit([make_message(9)])
    assert timer.sleeps == [0.05]
    timer.sleeps.clear()
    timer.now += 5
    await channel.submit([make_message(10)])
    assert timer.sleeps == []


async def test_requests_in_flight_are_bounded(
    standin: GraphStandin, http: httpx.AsyncClient, timer: FakeTimer
) -> None:
    channel = make_channel(standin, http, timer, max_concurrent=3, messages_per_second=0)
    standin.answering.clear()
    sending = asyncio.ensure_future(channel.submit([make_message(n) for n in range(1, 11)]))
    try:
        assert await asyncio.to_thread(standin.wait_for_in_flight, 3, 30.0)
        assert channel.read_health().in_flight == 3
    finally:
        standin.answering.set()
    handoffs = await sending
    assert all(h.outcome == Outcome.ACCEPTED for h in handoffs)
    assert standin.most_in_flight == 3
