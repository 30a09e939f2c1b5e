"""Messages, files and channels for the Cloud API channel's tests, on the Graph API stand-in."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

from tambuli.channels.secrets import Secret
from tambuli.channels.whatsapp.base import Media, MediaKind, OutboundWhatsApp, Template
from tambuli.channels.whatsapp.cloud import CloudApiChannel, NumberPacer
from tambuli.channels.whatsapp.cloud_config import WhatsAppCloudConfig
from tambuli.clock import FakeClock
from tambuli.outbound_http import OutboundHttp
from tests.support.graph_standin import (
    API_VERSION,
    APP_SECRET,
    BUSINESS_NUMBER,
    OTHER_PHONE_NUMBER_ID,
    OTHER_TOKEN,
    PHONE_NUMBER_ID,
    TOKEN,
    GraphStandin,
)

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


def make_cloud_config(standin: GraphStandin, **changes: Any) -> WhatsAppCloudConfig:
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


def make_channel(
    standin: GraphStandin,
    http: OutboundHttp,
    timer: FakeTimer,
    clock: FakeClock | None = None,
    **changes: Any,
) -> CloudApiChannel:
    """A channel on the stand-in; the other number has its own token."""
    config = make_cloud_config(standin, **changes)
    tokens = {OTHER_PHONE_NUMBER_ID: Secret(OTHER_TOKEN)}
    return CloudApiChannel(
        config,
        http,
        find_token=lambda number: tokens.get(number, config.access_token),
        clock=clock,
        pacer=NumberPacer(config.messages_per_second, timer.monotonic, timer.sleep),
    )


def wrap_message(kind: str, part: dict[str, Any], to: str = RECIPIENT) -> dict[str, Any]:
    """The whole body the messages endpoint gets for one Cloud API message."""
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": kind,
        kind: part,
    }
