"""The Cloud API channel over real HTTP against the Graph API stand-in: what it sends."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest

from tambuli.channels.base import Outcome
from tambuli.channels.whatsapp import cloud_media
from tambuli.channels.whatsapp.base import MediaKind, Template, WhatsAppChannel
from tambuli.channels.whatsapp.cloud import CloudApiChannel
from tambuli.clock import FakeClock
from tambuli.outbound_http import OutboundHttp
from tests.support.cloud_messages import (
    RECIPIENT,
    FakeTimer,
    make_channel,
    make_media,
    make_message,
    wrap_message,
)
from tests.support.graph_standin import (
    API_VERSION,
    OTHER_PHONE_NUMBER_ID,
    PHONE_NUMBER_ID,
    GraphStandin,
    running_graph_standin,
)


@pytest.fixture
def standin() -> Iterator[GraphStandin]:
    """A fresh stand-in with one template of two body parameters and one of none."""
    with running_graph_standin() as running:
        running.templates[("order_ready", "en_US")] = 2
        running.templates[("hello_world", "en_US")] = 0
        yield running


@pytest.fixture
async def http() -> AsyncIterator[OutboundHttp]:
    """An HTTP client that ignores proxy settings: tests talk to 127.0.0.1 only."""
    async with OutboundHttp() as client:
        yield client


@pytest.fixture
def timer() -> FakeTimer:
    """The pacer's time."""
    return FakeTimer()


@pytest.fixture
def channel(standin: GraphStandin, http: OutboundHttp, timer: FakeTimer) -> CloudApiChannel:
    """The channel as a worker would start it."""
    return make_channel(standin, http, timer)


class _NoEvents:
    async def record_statuses(self, statuses: Any) -> None:
        raise AssertionError("no statuses expected")

    async def record_inbound(self, messages: Any) -> None:
        raise AssertionError("no inbound expected")


async def test_a_text_is_sent_as_meta_documents_and_accepted_with_its_wamid(
    channel: CloudApiChannel, standin: GraphStandin
) -> None:
    typed: WhatsAppChannel = channel
    [handoff] = await typed.submit([make_message(41, recipient="+" + RECIPIENT)])
    [sent] = standin.sent
    assert (handoff.message_id, handoff.outcome) == (41, Outcome.ACCEPTED)
    assert (handoff.operator_message_id, handoff.accepted_parts) == (sent.wamid, 1)
    assert sent.phone_number_id == PHONE_NUMBER_ID
    assert sent.body == wrap_message("text", {"body": "Hello from Tambuli"})
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
    assert sent.body == wrap_message(
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
    assert sent.body == wrap_message(kind.value, {"id": upload.media_id, **expected})


async def test_audio_has_no_caption_so_its_text_goes_first_as_a_text_message(
    channel: CloudApiChannel, standin: GraphStandin
) -> None:
    [handoff] = await channel.submit([make_message(media=(make_media(MediaKind.AUDIO),))])
    [upload] = standin.uploads
    text, audio = standin.sent
    assert text.body == wrap_message("text", {"body": "Hello from Tambuli"})
    assert audio.body == wrap_message("audio", {"id": upload.media_id})
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
    standin: GraphStandin, http: OutboundHttp, timer: FakeTimer
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


async def test_the_oldest_remembered_upload_is_forgotten_first(
    channel: CloudApiChannel, standin: GraphStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cloud_media, "REMEMBERED_UPLOADS", 2)
    files = [make_media(MediaKind.IMAGE, data=f"photo {n}".encode()) for n in range(3)]
    for n, media in enumerate([*files, files[2], files[0]]):
        [handoff] = await channel.submit([make_message(n, media=(media,))])
        assert handoff.outcome == Outcome.ACCEPTED
    # photo 2 was still remembered; photo 0 had been pushed out by photos 1 and 2.
    assert [u.data for u in standin.uploads] == [b"photo 0", b"photo 1", b"photo 2", b"photo 0"]


async def test_a_refused_upload_is_tried_again_with_the_next_attempt(
    channel: CloudApiChannel, standin: GraphStandin
) -> None:
    image = make_media(MediaKind.IMAGE)
    token = standin.tokens[PHONE_NUMBER_ID]
    standin.tokens[PHONE_NUMBER_ID] = "rotated"
    refused = await channel.submit(
        [make_message(1, media=(image,)), make_message(2, media=(image,))]
    )
    assert [h.outcome for h in refused] == [Outcome.PERMANENT, Outcome.PERMANENT]
    standin.tokens[PHONE_NUMBER_ID] = token
    [handoff] = await channel.submit([make_message(3, media=(image,))])
    assert handoff.outcome == Outcome.ACCEPTED and len(standin.uploads) == 1
