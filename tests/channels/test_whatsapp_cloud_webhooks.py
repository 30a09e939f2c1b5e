"""The Cloud API's webhooks: signatures, the handshake, every part of a body, inbound media."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tambuli.channels.secrets import Secret
from tambuli.channels.whatsapp.base import Location, MediaKind, WhatsAppState
from tambuli.channels.whatsapp.cloud_media import InboundMediaFetcher
from tambuli.channels.whatsapp.cloud_webhooks import (
    SIGNATURE_HEADER,
    MediaRef,
    ParsedWebhook,
    answer_subscription,
    parse_webhook,
    sign_body,
    verify_signature,
)
from tambuli.outbound_http import OutboundHttp
from tests.support.graph_standin import (
    API_VERSION,
    APP_SECRET,
    BUSINESS_NUMBER,
    PHONE_NUMBER_ID,
    TOKEN,
    GraphStandin,
    running_graph_standin,
)
from tests.support.graph_webhooks import (
    CONTACT,
    CONTACT_NAME,
    deliver_webhook,
    message_value,
    sign,
    status_value,
    wrap_value,
)
from tests.support.receiver import PushReceiver, running_receiver

SECRET = Secret(APP_SECRET)
VERIFY_TOKEN = Secret("verify-me-please")
AT = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
WAMID = "wamid.HBgLMTYzMTU1NTEyMzQVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"


def parse(value: dict[str, Any], field: str = "messages") -> ParsedWebhook:
    """Parse a body around one change value, as the webhook route would."""
    return parse_webhook(json.dumps(wrap_value(value, field)).encode(), "whatsapp")


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
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client that ignores proxy settings: tests talk to 127.0.0.1 only."""
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client


def make_fetcher(
    standin: GraphStandin, http: OutboundHttp, token: str | None = TOKEN
) -> InboundMediaFetcher:
    """Fetches inbound media from the stand-in with the business number's token."""
    return InboundMediaFetcher(
        http,
        f"{standin.url}/{API_VERSION}",
        lambda number: Secret(token) if token is not None else None,
        10,
    )


# Signatures


async def test_a_webhook_signed_with_the_app_secret_is_verified_on_its_raw_bytes(
    receiver: PushReceiver, http: httpx.AsyncClient
) -> None:
    payload = wrap_value(status_value(WAMID, "delivered"))
    body, answer = await deliver_webhook(http, f"{receiver.url}/hook", payload)
    [received] = receiver.received()
    assert answer.status_code == 200 and received.body == body
    signature = received.headers[SIGNATURE_HEADER.lower()]
    assert verify_signature(received.body, signature, SECRET)
    assert sign_body(received.body, SECRET) == signature
    # Re-encoding the JSON changes the bytes: only the raw body verifies.
    reencoded = json.dumps(json.loads(received.body), indent=1).encode()
    assert not verify_signature(reencoded, signature, SECRET)


async def test_a_webhook_signed_with_another_secret_or_not_signed_is_refused(
    receiver: PushReceiver, http: httpx.AsyncClient
) -> None:
    payload = wrap_value(status_value(WAMID, "read"))
    await deliver_webhook(http, receiver.url, payload, app_secret="someone-else")
    await deliver_webhook(http, receiver.url, payload, app_secret=None)
    forged, unsigned = receiver.received()
    assert not verify_signature(forged.body, forged.headers[SIGNATURE_HEADER.lower()], SECRET)
    assert SIGNATURE_HEADER.lower() not in unsigned.headers
    assert not verify_signature(unsigned.body, None, SECRET)


@pytest.mark.parametrize(
    "header",
    ["", "sha256=", "sha1=" + "0" * 40, "sha256=zz", "sha256=" + "0" * 64, "sha256=ä"],
)
def test_malformed_signature_headers_are_refused(header: str) -> None:
    assert not verify_signature(b"{}", header, SECRET)


def test_a_signature_in_upper_case_hex_is_accepted() -> None:
    body = b'{"object":"whatsapp_business_account"}'
    assert verify_signature(body, sign(body).upper().replace("SHA256=", "sha256="), SECRET)


# The subscription handshake


def test_the_handshake_with_our_verify_token_answers_the_challenge() -> None:
    query = {
        "hub.mode": "subscribe",
        "hub.verify_token": "verify-me-please",
        "hub.challenge": "1158201444",
    }
    assert answer_subscription(query, VERIFY_TOKEN) == "1158201444"


@pytest.mark.parametrize(
    "query",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": "verify-me-please", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.verify_token": "verify-me-please"},
        {},
    ],
)
def test_a_handshake_without_our_token_is_refused(query: dict[str, str]) -> None:
    assert answer_subscription(query, VERIFY_TOKEN) is None


# Statuses


@pytest.mark.parametrize("state", ["sent", "delivered", "read"])
def test_each_status_becomes_a_whatsapp_status(state: str) -> None:
    parsed = parse(status_value(WAMID, state))
    assert parsed.skipped == 0 and parsed.inbound == ()
    [status] = parsed.statuses
    assert (status.channel, status.operator_message_id) == ("whatsapp", WAMID)
    assert (status.state, status.error, status.at) == (WhatsAppState(state), "", AT)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            (131026, "Message undeliverable"),
            "undeliverable: recipient not on WhatsApp or cannot receive it (131026)",
        ),
        (
            (131049, "Meta chose not to deliver"),
            "not delivered by Meta to keep engagement healthy (131049)",
        ),
        ((131999, "Something new"), "Something new (131999)"),
        (None, "failed"),
    ],
)
def test_a_failed_status_says_why_in_a_few_words(
    error: tuple[int, str] | None, expected: str
) -> None:
    [status] = parse(status_value(WAMID, "failed", error=error)).statuses
    assert (status.state, status.error) == (WhatsAppState.FAILED, expected)


def test_statuses_we_do_not_track_and_broken_ones_are_skipped_and_counted() -> None:
    value = status_value(WAMID, "delivered")
    value["statuses"] += [
        {"id": "wamid.x", "status": "deleted", "timestamp": "1714550400"},
        {"status": "read", "timestamp": "1714550400"},
        {"id": "wamid.y", "status": "read", "timestamp": "yesterday"},
        "not an object",
    ]
    parsed = parse(value)
    assert [s.operator_message_id for s in parsed.statuses] == [WAMID]
    assert parsed.skipped == 4
    assert "unknown status 'deleted'" in parsed.reasons


# Inbound messages


def test_a_text_becomes_an_inbound_message_with_the_contacts_profile_name() -> None:
    parsed = parse(message_value("text", {"body": "YES"}, wamid=WAMID))
    [pending] = parsed.inbound
    message = pending.message
    assert (
        parsed.skipped == 0 and pending.media == () and pending.phone_number_id == PHONE_NUMBER_ID
    )
    assert (message.channel, message.recipient, message.sender) == (
        "whatsapp",
        BUSINESS_NUMBER,
        CONTACT,
    )
    assert (message.text, message.at, message.operator_event_id) == ("YES", AT, WAMID)
    assert (message.profile_name, message.location, message.media) == (CONTACT_NAME, None, ())


def test_a_formatted_display_number_is_stored_as_digits() -> None:
    [pending] = parse(
        message_value("text", {"body": "hi"}, display_number="+1 555-078-3881")
    ).inbound
    assert pending.message.recipient == BUSINESS_NUMBER


@pytest.mark.parametrize(
    ("kind", "content", "expected"),
    [
        (
            "image",
            {"caption": "my receipt", "mime_type": "image/jpeg", "sha256": "abc", "id": "111"},
            MediaRef(MediaKind.IMAGE, "111", "image/jpeg", "whatsapp-111.jpg", "my receipt"),
        ),
        (
            "audio",
            {"mime_type": "audio/ogg; codecs=opus", "sha256": "abc", "id": "222", "voice": True},
            MediaRef(MediaKind.AUDIO, "222", "audio/ogg; codecs=opus", "whatsapp-222.oga"),
        ),
        (
            "video",
            {"caption": "look", "mime_type": "video/mp4", "sha256": "abc", "id": "333"},
            MediaRef(MediaKind.VIDEO, "333", "video/mp4", "whatsapp-333.mp4", "look"),
        ),
        (
            "document",
            {
                "caption": "the form",
                "filename": "form.pdf",
                "mime_type": "application/pdf",
                "id": "444",
            },
            MediaRef(MediaKind.DOCUMENT, "444", "application/pdf", "form.pdf", "the form"),
        ),
    ],
)
def test_each_media_kind_is_named_for_fetching_with_its_caption_as_text(
    kind: str, content: dict[str, Any], expected: MediaRef
) -> None:
    [pending] = parse(message_value(kind, content)).inbound
    assert pending.media == (expected,)
    assert pending.message.text == expected.caption


def test_a_location_keeps_its_coordinates_name_and_address() -> None:
    content = {"latitude": 14.5995, "longitude": 120.9842, "name": "Clinic", "address": "Manila"}
    [pending] = parse(message_value("location", content)).inbound
    assert pending.message.location == Location("14.5995", "120.9842", "Clinic", "Manila")
    assert pending.message.text == "Clinic"


@pytest.mark.parametrize(
    ("kind", "content", "text"),
    [
        ("button", {"text": "Yes, confirm", "payload": "CONFIRM"}, "Yes, confirm"),
        (
            "interactive",
            {"type": "button_reply", "button_reply": {"id": "b1", "title": "Yes"}},
            "Yes",
        ),
        (
            "interactive",
            {
                "type": "list_reply",
                "list_reply": {"id": "r2", "title": "Tuesday", "description": "am"},
            },
            "Tuesday",
        ),
    ],
)
def test_button_and_interactive_replies_become_their_text(
    kind: str, content: dict[str, Any], text: str
) -> None:
    [pending] = parse(message_value(kind, content)).inbound
    assert pending.message.text == text


@pytest.mark.parametrize(
    ("kind", "content"),
    [
        ("sticker", {"mime_type": "image/webp", "id": "9", "animated": False}),
        ("reaction", {"message_id": WAMID, "emoji": "👍"}),
        ("unsupported", {"type": "poll"}),
        ("interactive", {"type": "nfm_reply"}),
        ("location", {"name": "nowhere"}),
        ("image", {"mime_type": "image/jpeg"}),
    ],
)
def test_messages_we_cannot_store_are_skipped_and_counted(
    kind: str, content: dict[str, Any]
) -> None:
    parsed = parse(message_value(kind, content))
    assert (parsed.inbound, parsed.skipped) == ((), 1)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[]",
        b'{"entry": "x"}',
        b'{"entry": [{"changes": "x"}]}',
        b'{"entry": [{"changes": [{"value": 3}]}]}',
        b'{"entry": [{"changes": [{"field": "account_update", "value": {}}]}]}',
        b'{"entry": [{"changes": [{"value": {"messages": [{"id": "w", "type": "text"}]}}]}]}',
        b'{"entry": [{"changes": [{"value": {"errors": [{"code": 131000}]}}]}]}',
        b"\xff\xfe",
    ],
)
def test_malformed_bodies_are_counted_never_raised(body: bytes) -> None:
    parsed = parse_webhook(body, "whatsapp")
    assert (parsed.statuses, parsed.inbound) == ((), ())
    assert parsed.skipped == 1


def test_odd_values_anywhere_in_a_body_never_raise() -> None:
    good = wrap_value(message_value("text", {"body": "hi"}))
    odd_values: list[Any] = [None, 3, -1, 1.5, True, "x", [], {}, [None], {"a": None}]
    message = good["entry"][0]["changes"][0]["value"]["messages"][0]
    for key in ["from", "id", "timestamp", "type", "text"]:
        for odd in odd_values:
            body = json.loads(json.dumps(good))
            body["entry"][0]["changes"][0]["value"]["messages"][0][key] = odd
            parsed = parse_webhook(json.dumps(body).encode(), "whatsapp")
            assert len(parsed.inbound) + parsed.skipped == 1, (key, odd)
    assert message["from"] == CONTACT


def test_one_body_carries_several_numbers_statuses_and_messages() -> None:
    first = wrap_value(status_value(WAMID, "delivered"))
    second = wrap_value(message_value("text", {"body": "hello"}))
    first["entry"] += second["entry"]
    first["entry"][0]["changes"].append({"field": "messages", "value": "broken"})
    parsed = parse_webhook(json.dumps(first).encode(), "whatsapp")
    assert (len(parsed.statuses), len(parsed.inbound), parsed.skipped) == (1, 1, 1)
