"""A generic HTTP SMS gateway as a Channel: one request per message, fields from templates.

The gateway splits long messages itself, so each request carries the whole body. Templates may
use {to} (digits, no "+"), {from}, {text} and {reference} (Tambuli's message ID, which gateways
echo in receipts). How answers map to hand-offs:

- a status in permanent_statuses → PERMANENT;
- 2xx → what the preset reads from the answer (http_presets.py); without a preset ACCEPTED,
  with the ID found at message_id_field ("" when the answer has none: the gateway took the
  message, and sending it again would deliver it twice);
- 429, 5xx, any other status, timeouts and connection failures → TRANSIENT.

Receipts and inbound SMS come by callback (api/gateway_callbacks.py), so poll_events finds none.
When the gateway cannot be reached (no connection, no answer in time, 5xx) the channel reports
itself DOWN for DOWN_SECONDS, so routes fail over; then it is offered traffic again.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from tambuli.channels.base import (
    STANDARD_PART_HEADER_OCTETS,
    ChannelEvents,
    ChannelHealth,
    HandOff,
    LinkState,
    OutboundSms,
    Outcome,
)
from tambuli.channels.config.specs import BodyFormat, HttpChannelConfig, HttpMethod
from tambuli.channels.link_health import LinkHealth
from tambuli.channels.secrets import Secret
from tambuli.channels.sms.http_presets import GatewayPreset, SendAnswer, find_preset
from tambuli.clock import Clock, SystemClock
from tambuli.outbound_http import CallFailed, HttpAnswer, OutboundHttp

# Requests in flight per submit: enough to keep a batch moving without flooding the gateway.
MAX_CONCURRENT_REQUESTS = 16
# How long an unreachable gateway is reported DOWN before it is tried again.
DOWN_SECONDS = timedelta(seconds=30)
_ERROR_LIMIT = 200
TIMEOUT_ERROR = "gateway timeout"
UNREACHABLE_ERROR = "gateway unreachable"
# Refusals that say the gateway itself is in trouble, not this message.
_UNREACHABLE_ERRORS = (TIMEOUT_ERROR, UNREACHABLE_ERROR, "gateway HTTP 5")


class HttpGatewayChannel:
    """A Channel on an HTTP SMS gateway described by an HttpChannelConfig."""

    paces_itself = False
    part_header_octets = STANDARD_PART_HEADER_OCTETS
    # Receipts and inbound SMS arrive as callbacks to the API, which wakes the workers itself.
    events_waiting: asyncio.Event | None = None

    def __init__(
        self,
        config: HttpChannelConfig,
        client: OutboundHttp,
        *,
        secret_fields: Mapping[str, Secret] | None = None,
        max_concurrent: int = MAX_CONCURRENT_REQUESTS,
        clock: Clock | None = None,
    ) -> None:
        self.name = config.name
        self.parts_per_second = config.parts_per_second
        self._config = config
        self._client = client
        self._preset: GatewayPreset | None = find_preset(config.preset)
        # Request fields whose values are secrets (e.g. Vonage's api_key and api_secret).
        self._secret_fields = dict(secret_fields or {})
        self._max_concurrent = max(1, max_concurrent)
        self._timeout = config.timeout_seconds
        self._health = LinkHealth(clock or SystemClock(), DOWN_SECONDS)

    async def open(self) -> None:
        """Nothing to connect: every message is a request of its own."""
        self._health.stopped = False

    async def close(self) -> None:
        """Take no more messages; the HTTP client belongs to whoever made it."""
        self._health.stopped = True

    def read_state(self) -> LinkState:
        """DOWN for a while after the gateway could not be reached."""
        return self._health.read_state()

    def read_health(self) -> ChannelHealth:
        """read_state, and counts since start."""
        return self._health.describe(self.name, "http", self.parts_per_second, self._max_concurrent)

    async def submit(self, messages: Sequence[OutboundSms]) -> list[HandOff]:
        """Send each message in its own request, a bounded number at once; never raises."""
        slots = asyncio.Semaphore(self._max_concurrent)

        async def send_when_free(message: OutboundSms) -> HandOff:
            async with slots:
                with self._health.count_in_flight():
                    handoff = await self._send(message)
                self._count(message, handoff)
                return handoff

        return list(await asyncio.gather(*(send_when_free(m) for m in messages)))

    def _count(self, message: OutboundSms, handoff: HandOff) -> None:
        if handoff.outcome == Outcome.ACCEPTED:
            self._health.record_accepted(handoff.accepted_parts)
            return
        self._health.record_refused(
            len(message.parts),
            handoff.error,
            throttled="throttled" in handoff.error or "HTTP 429" in handoff.error,
            unreachable=handoff.error.startswith(_UNREACHABLE_ERRORS),
        )

    async def poll_events(self, events: ChannelEvents) -> int:
        """Nothing to poll: the gateway calls back with receipts and inbound SMS."""
        return 0

    async def _send(self, message: OutboundSms) -> HandOff:
        fields = build_request_fields(self._config.fields, message)
        if self._preset is not None:
            fields.update(self._preset.add_fields(message))
        fields.update({name: secret.reveal() for name, secret in self._secret_fields.items()})
        headers = {"Accept": "application/json"}
        if self._config.auth_header is not None:
            headers["Authorization"] = self._config.auth_header.reveal()
        content: dict[str, Any] = {}
        if self._config.method == HttpMethod.GET:
            content["params"] = fields
        elif self._config.body_format == BodyFormat.FORM:
            content["form"] = fields
        else:
            content["json_body"] = fields
        try:
            response = await self._client.call(
                self._config.method.value,
                self._config.url,
                headers=headers,
                time_limit=self._timeout,
                **content,
            )
        except CallFailed as exc:
            if exc.timed_out:
                return _transient(message, TIMEOUT_ERROR)
            # Never the request itself: its URL or body may hold credentials.
            return _transient(message, f"{UNREACHABLE_ERROR} ({exc.kind})")
        return self._read_response(message, response)

    def _read_response(self, message: OutboundSms, response: HttpAnswer) -> HandOff:
        status = response.status
        if status in self._config.permanent_statuses:
            error = self._describe(response)
            return HandOff(message.message_id, Outcome.PERMANENT, error=error)
        if not 200 <= status < 300:
            return _transient(message, self._describe(response))
        body = _parse_json(response.content)
        if self._preset is None:
            operator_id = find_field(body, self._config.message_id_field)
            return _accepted(message, SendAnswer(Outcome.ACCEPTED, operator_id))
        try:
            answer = self._preset.read_answer(body)
        except (AttributeError, KeyError, IndexError, TypeError, ValueError):
            # This gateway always answers JSON it can read: something in between answered.
            return _transient(message, f"unreadable gateway answer (HTTP {status})")
        if answer.outcome == Outcome.ACCEPTED:
            return _accepted(message, answer)
        return HandOff(message.message_id, answer.outcome, error=answer.error)

    def _describe(self, response: HttpAnswer) -> str:
        """A short refusal text: the status and the answer's first words."""
        detail = " ".join(response.text.split())[:80] if response.content else ""
        secrets = [s.reveal() for s in self._secret_fields.values()]
        if self._config.auth_header is not None:
            secrets.append(self._config.auth_header.reveal())
        if any(secret and secret in response.text for secret in secrets):
            # An answer that echoes the credentials is never repeated.
            detail = ""
        text = f"gateway HTTP {response.status}"
        return (f"{text}: {detail}" if detail else text)[:_ERROR_LIMIT]


def build_request_fields(templates: Mapping[str, str], message: OutboundSms) -> dict[str, str]:
    """The request fields: each template filled with this message's values."""
    values = {
        "to": message.recipient.removeprefix("+"),
        "from": message.sender,
        "text": message.body,
        "reference": str(message.message_id),
    }
    return {name: template.format_map(values) for name, template in templates.items()}


def find_field(body: Any, path: str) -> str:
    """The value at a dotted path ("data.id", "messages.0.message-id") as text; "" if absent."""
    found = body
    for key in path.split("."):
        if isinstance(found, dict):
            found = found.get(key)
        elif isinstance(found, list) and key.isdigit() and int(key) < len(found):
            found = found[int(key)]
        else:
            return ""
    if found is None or isinstance(found, dict | list | bool):
        return ""
    return str(found)


def _accepted(message: OutboundSms, answer: SendAnswer) -> HandOff:
    return HandOff(
        message.message_id,
        Outcome.ACCEPTED,
        operator_message_id=answer.operator_message_id,
        accepted_parts=answer.parts or len(message.parts),
    )


def _transient(message: OutboundSms, error: str) -> HandOff:
    return HandOff(message.message_id, Outcome.TRANSIENT, error=error[:_ERROR_LIMIT])


def _parse_json(content: bytes) -> Any:
    try:
        return json.loads(content) if content else None
    except ValueError:
        return None
