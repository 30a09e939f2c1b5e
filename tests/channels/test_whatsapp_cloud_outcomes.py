"""The Cloud API channel against the Graph API stand-in: refusals, pacing, concurrency."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tambuli.channels.base import LinkState, Outcome
from tambuli.channels.secrets import Secret
from tambuli.channels.whatsapp.base import MediaKind, Template
from tambuli.channels.whatsapp.cloud import DOWN_SECONDS, CloudApiChannel
from tambuli.channels.whatsapp.cloud_errors import KNOWN_ERRORS, classify_error
from tambuli.clock import FakeClock
from tambuli.outbound_http import OutboundHttp
from tests.support.cloud_messages import (
    RECIPIENT,
    FakeTimer,
    make_channel,
    make_cloud_config,
    make_media,
    make_message,
)
from tests.support.graph_standin import (
    OTHER_PHONE_NUMBER_ID,
    GraphStandin,
    Refusal,
    running_graph_standin,
)
from tests.support.server import free_port


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
    standin: GraphStandin, http: OutboundHttp, timer: FakeTimer
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
    standin: GraphStandin, http: OutboundHttp
) -> None:
    channel = CloudApiChannel(make_cloud_config(standin, access_token=None), http)
    [handoff] = await channel.submit([make_message()])
    assert (handoff.outcome, handoff.error) == (
        Outcome.PERMANENT,
        "no access token for this business number",
    )
    assert standin.requests == []


async def test_a_server_error_page_is_transient_and_reports_the_channel_down(
    standin: GraphStandin, http: OutboundHttp, timer: FakeTimer
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
    standin: GraphStandin, http: OutboundHttp, timer: FakeTimer
) -> None:
    channel = make_channel(standin, http, timer, timeout_seconds=0.3)
    standin.answer_slowly(RECIPIENT)
    [handoff] = await channel.submit([make_message()])
    assert (handoff.outcome, handoff.error) == (Outcome.TRANSIENT, "WhatsApp timeout")
    assert channel.read_health().last_error == "WhatsApp timeout"


async def test_no_connection_is_transient(
    standin: GraphStandin, http: OutboundHttp, timer: FakeTimer
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
    standin: GraphStandin, http: OutboundHttp, timer: FakeTimer
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
    standin: GraphStandin, http: OutboundHttp, timer: FakeTimer
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


def test_docs_channels_md_tells_each_codes_outcome_as_the_code_does() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "channels.md").read_text("utf-8")
    section = docs.split("### What each answer becomes", 1)[1].split("\n### ", 1)[0]
    documented: set[int] = set()
    for row in section.splitlines():
        cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[1] not in ("transient", "permanent"):
            continue
        for code in (int(found) for found in re.findall(r"`(\d+)`", cells[0])):
            documented.add(code)
            assert classify_error(code, 400).outcome == Outcome(cells[1]), code
    # Every code we retry is documented: an operator reading a stuck queue looks for it there.
    retried = {code for code, known in KNOWN_ERRORS.items() if known.outcome == Outcome.TRANSIENT}
    assert retried <= documented


async def test_a_later_file_refused_leaves_the_message_handed_off_and_says_so_in_health(
    channel: CloudApiChannel, standin: GraphStandin
) -> None:
    audio, image = make_media(MediaKind.AUDIO), make_media(MediaKind.IMAGE)
    standin.type_refusals["audio"] = Refusal(400, 131053, "Media upload error")
    [handoff] = await channel.submit([make_message(5, media=(image, audio))])
    assert handoff.outcome == Outcome.ACCEPTED
    assert [s.kind for s in standin.sent] == ["image"]
    assert channel.read_health().last_error.startswith("message 5, part 2: ")
