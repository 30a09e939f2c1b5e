"""Meta's WhatsApp Business Cloud API as a WhatsAppChannel: one Graph API call per message.

`POST {graph_url}/{api_version}/{phone-number-id}/messages` with the number's bearer token and
a body of one type: `text`, `template` (name, language code, the body's parameters, and a media
header when the message has a file), or `image` / `audio` / `video` / `document` by an
uploaded media ID (cloud_media.py), with a caption where WhatsApp allows one (not audio) and
the file name for documents.

A free-form message with several files goes out as several Cloud API messages: each file in
turn, the text as the caption of the first file that may carry one (or as a text message of
its own first when none may). The hand-off reports the first one's wamid; once it is accepted
the message counts as handed off even if a later file is refused, because sending it again
would deliver what was accepted twice.

How answers map to hand-offs (cloud_errors.py has every code):
- 200 with `messages[0].id` → ACCEPTED with that wamid;
- HTTP 429, 5xx, rate-limit codes (4, 80007, 130429, 131048, 131056), timeouts, no connection
  → TRANSIENT;
- other 4xx and codes (131026 undeliverable, 131047 outside the 24-hour window, 132xxx
  template errors, 100 invalid parameter, 190 token) → PERMANENT.

Requests to each business number are paced to `messages_per_second` (Meta's limit is per
number) and at most `max_concurrent` are in flight on the channel. Statuses and inbound
messages come by webhook (cloud_webhooks.py), so poll_events finds none.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

from tambuli.channels.base import ChannelHealth, HandOff, LinkState, Outcome
from tambuli.channels.link_health import LinkHealth
from tambuli.channels.secrets import Secret
from tambuli.channels.whatsapp.base import (
    Media,
    MediaKind,
    OutboundWhatsApp,
    Template,
    WhatsAppEvents,
)
from tambuli.channels.whatsapp.cloud_config import WhatsAppCloudConfig
from tambuli.channels.whatsapp.cloud_errors import CloudError
from tambuli.channels.whatsapp.cloud_graph import (
    TIMEOUT_ERROR,
    UNREACHABLE_ERROR,
    TokenFinder,
    call_graph,
)
from tambuli.channels.whatsapp.cloud_media import NO_ACCESS_ERROR, MediaRefused, MediaUploads
from tambuli.clock import Clock, SystemClock
from tambuli.outbound_http import OutboundHttp

KIND = "whatsapp_cloud"
# How long the Graph API is reported DOWN after it could not be reached, so traffic waits.
DOWN_SECONDS = timedelta(seconds=30)
# A template's header may be one image, video or document; audio has no place in a template.
_HEADER_KINDS = frozenset({MediaKind.IMAGE, MediaKind.VIDEO, MediaKind.DOCUMENT})
_CAPTIONED = _HEADER_KINDS
# Refusals that say the Graph API itself is in trouble, not this message.
_UNREACHABLE_ERRORS = (TIMEOUT_ERROR, UNREACHABLE_ERROR, "WhatsApp HTTP 5")
TEMPLATE_MEDIA_ERROR = "a template carries at most one image, video or document"
_ERROR_LIMIT = 200


class NumberPacer:
    """Holds each business number to `rate` requests per second, slot by slot.

    Monotonic time, not the Clock: this paces traffic to a real peer; tests pass their own
    monotonic and sleep. A rate of 0 means no pacing.
    """

    def __init__(
        self,
        rate: float,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.rate = rate
        self._monotonic = monotonic
        self._sleep = sleep
        self._next_slot: dict[str, float] = {}

    async def wait_turn(self, number: str) -> None:
        """Wait for this number's next free slot (taken at once, so callers keep their order)."""
        if self.rate <= 0:
            return
        now = self._monotonic()
        slot = max(now, self._next_slot.get(number, now))
        self._next_slot[number] = slot + 1.0 / self.rate
        if slot > now:
            await self._sleep(slot - now)


def find_default_token(config: WhatsAppCloudConfig) -> TokenFinder:
    """A token finder that gives every number the channel's access_token (None without one)."""
    return lambda phone_number_id: config.access_token


class CloudApiChannel:
    """A WhatsAppChannel on Meta's WhatsApp Business Cloud API."""

    def __init__(
        self,
        config: WhatsAppCloudConfig,
        client: OutboundHttp,
        *,
        find_token: TokenFinder | None = None,
        clock: Clock | None = None,
        pacer: NumberPacer | None = None,
    ) -> None:
        self.name = config.name
        self.messages_per_second = config.messages_per_second
        self._config = config
        self._client = client
        # Numbers registered with a token of their own; others use the channel's.
        self._find_token = find_token or find_default_token(config)
        self._clock: Clock = clock or SystemClock()
        self._pacer = pacer or NumberPacer(config.messages_per_second)
        self._timeout = config.timeout_seconds
        self._slots = asyncio.Semaphore(config.max_concurrent)
        self.uploads = MediaUploads(client, config.api_url, self._timeout, self._clock, self._slots)
        self._health = LinkHealth(self._clock, DOWN_SECONDS)

    async def open(self) -> None:
        """Nothing to connect: every message is a request of its own."""
        self._health.stopped = False

    async def close(self) -> None:
        """Take no more messages; the HTTP client belongs to whoever made it."""
        self._health.stopped = True

    def read_state(self) -> LinkState:
        """DOWN for a while after the Graph API could not be reached."""
        return self._health.read_state()

    def read_health(self) -> ChannelHealth:
        """read_state, and counts since start (in messages)."""
        return self._health.describe(
            self.name, KIND, self.messages_per_second, self._config.max_concurrent
        )

    async def poll_events(self, events: WhatsAppEvents) -> int:
        """Nothing to poll: statuses and inbound messages come to the webhook route."""
        return 0

    async def submit(self, messages: Sequence[OutboundWhatsApp]) -> list[HandOff]:
        """Send each message, a bounded number at once, paced per number; never raises."""
        return list(await asyncio.gather(*(self._send_counted(m) for m in messages)))

    async def _send_counted(self, message: OutboundWhatsApp) -> HandOff:
        try:
            handoff = await self._send(message)
        except Exception as exc:
            # One odd message must not fail the batch: it is retried like any transient refusal.
            handoff = _refuse(message, CloudError(Outcome.TRANSIENT, f"internal error ({exc!r})"))
        if handoff.outcome == Outcome.ACCEPTED:
            self._health.record_accepted(1)
            return handoff
        self._health.record_refused(
            1,
            handoff.error,
            throttled=handoff.error.startswith("throttled"),
            unreachable=handoff.error.startswith(_UNREACHABLE_ERRORS),
        )
        return handoff

    async def _send(self, message: OutboundWhatsApp) -> HandOff:
        token = self._find_token(message.phone_number_id)
        if token is None:
            return _refuse(message, CloudError(Outcome.PERMANENT, NO_ACCESS_ERROR))
        if message.template is not None:
            headers = [m for m in message.media if m.kind in _HEADER_KINDS]
            if len(message.media) > 1 or len(headers) != len(message.media):
                return _refuse(message, CloudError(Outcome.PERMANENT, TEMPLATE_MEDIA_ERROR))
        try:
            media_ids = [
                await self.uploads.find_media_id(message.phone_number_id, token, media)
                for media in message.media
            ]
        except MediaRefused as refused:
            return _refuse(message, refused.refusal)
        bodies = build_message_bodies(message, media_ids)
        first = await self._post_message(message, token, bodies[0])
        if first.outcome != Outcome.ACCEPTED:
            return first
        for place, body in enumerate(bodies[1:], start=2):
            later = await self._post_message(message, token, body)
            if later.outcome != Outcome.ACCEPTED:
                # Not retried (the first part would go twice); shown in the channel's health.
                self._health.last_error = (
                    f"message {message.message_id}, part {place}: {later.error}"
                )
        return first

    async def _post_message(
        self, message: OutboundWhatsApp, token: Secret, body: dict[str, Any]
    ) -> HandOff:
        # Paced before taking a slot, so a busy number's waiting messages never hold the slots
        # other numbers' messages need.
        await self._pacer.wait_turn(message.phone_number_id)
        async with self._slots:
            with self._health.count_in_flight():
                answer = await call_graph(
                    self._client,
                    "POST",
                    f"{self._config.api_url}/{message.phone_number_id}/messages",
                    token,
                    self._timeout,
                    json_body=body,
                )
        wamid = _find_wamid(answer.body) if answer.ok else ""
        if not wamid:
            return _refuse(message, answer.read_error())
        return HandOff(
            message.message_id, Outcome.ACCEPTED, operator_message_id=wamid, accepted_parts=1
        )


def build_message_bodies(
    message: OutboundWhatsApp, media_ids: Sequence[str]
) -> list[dict[str, Any]]:
    """The messages endpoint's bodies for one message, in sending order (see the module doc)."""
    if message.template is not None:
        header = list(zip(message.media, media_ids, strict=True))[:1]
        return [_envelope(message, "template", _template_part(message.template, header))]
    if not message.media:
        return [_envelope(message, "text", {"body": message.text})]
    bodies = []
    caption_owner = next((m for m in message.media if m.kind in _CAPTIONED), None)
    if message.text and caption_owner is None:
        bodies.append(_envelope(message, "text", {"body": message.text}))
    for media, media_id in zip(message.media, media_ids, strict=True):
        caption = message.text if media is caption_owner else ""
        bodies.append(_envelope(message, media.kind.value, _media_part(media, media_id, caption)))
    return bodies


def _envelope(message: OutboundWhatsApp, kind: str, part: dict[str, Any]) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": message.recipient.removeprefix("+"),
        "type": kind,
        kind: part,
    }


def _media_part(media: Media, media_id: str, caption: str = "") -> dict[str, Any]:
    part: dict[str, Any] = {"id": media_id}
    if caption and media.kind in _CAPTIONED:
        part["caption"] = caption
    if media.kind == MediaKind.DOCUMENT and media.filename:
        part["filename"] = media.filename
    return part


def _template_part(template: Template, header: Sequence[tuple[Media, str]]) -> dict[str, Any]:
    components: list[dict[str, Any]] = []
    for media, media_id in header:
        kind = media.kind.value
        parameter = {"type": kind, kind: _media_part(media, media_id)}
        components.append({"type": "header", "parameters": [parameter]})
    if template.parameters:
        parameters = [{"type": "text", "text": value} for value in template.parameters]
        components.append({"type": "body", "parameters": parameters})
    part: dict[str, Any] = {"name": template.name, "language": {"code": template.language}}
    if components:
        part["components"] = components
    return part


def _find_wamid(body: Any) -> str:
    messages = body.get("messages") if isinstance(body, dict) else None
    first = messages[0] if isinstance(messages, list) and messages else None
    wamid = first.get("id") if isinstance(first, dict) else None
    return wamid if isinstance(wamid, str) else ""


def _refuse(message: OutboundWhatsApp, refusal: CloudError) -> HandOff:
    return HandOff(message.message_id, refusal.outcome, error=refusal.error[:_ERROR_LIMIT])
