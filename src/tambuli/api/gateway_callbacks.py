"""GET/POST /v1/channels/{name}/receipts and …/inbound: HTTP gateways calling back.

The gateway proves itself with the channel's callback_token, as `?token=` or
`Authorization: Bearer`. Payloads come as a query string (GET), a form or JSON (one object or a
list); the channel's preset says which fields mean what (http_presets.py). The channels come
from the ChannelConfig the app holds as `app.state.channel_config`.
"""

from __future__ import annotations

import hmac
from typing import Any
from urllib.parse import parse_qsl

import msgspec
from litestar import MediaType, Request, Response, route
from litestar.params import FromPath

from tambuli.api.runtime import runtime_of
from tambuli.campaigns.replies import find_runs_awaiting_reply_within
from tambuli.channels.base import Receipt
from tambuli.channels.config.specs import ChannelConfig, HttpChannelConfig
from tambuli.channels.multipart import InboundAssembler
from tambuli.channels.sms.http_presets import (
    Fields,
    GatewayAssembler,
    UnreadableCallback,
    add_inbound_parts,
    new_gateway_assembler,
    read_inbound,
    read_receipt,
)
from tambuli.errors import InvalidInput, NotFound
from tambuli.messaging.receipts import MessageEvents

CHANNEL_CONFIG_STATE = "channel_config"
ASSEMBLER_STATE = "inbound_assembler"
# The query parameter that carries the callback token (its name, not a secret).
TOKEN_PARAM = "token"  # noqa: S105
# More than any gateway batches; a bigger payload is not a gateway's.
MAX_PAYLOADS = 1000


def channel_config_of(request: Request[Any, Any, Any]) -> ChannelConfig | None:
    """The channel config the app was given, or None when it has none."""
    config = request.app.state.get(CHANNEL_CONFIG_STATE)
    return config if isinstance(config, ChannelConfig) else None


def inbound_assembler_of(request: Request[Any, Any, Any]) -> GatewayAssembler:
    """The app's buffer of inbound SMS parts waiting for their siblings."""
    assembler: GatewayAssembler | None = request.app.state.get(ASSEMBLER_STATE)
    if not isinstance(assembler, InboundAssembler):
        assembler = new_gateway_assembler()
        request.app.state[ASSEMBLER_STATE] = assembler
    return assembler


@route(
    "/v1/channels/{name:str}/receipts",
    http_method=["GET", "POST"],
    include_in_schema=False,
)
async def receive_receipts(request: Request[Any, Any, Any], name: FromPath[str]) -> Response[Any]:
    """Record the delivery receipts a gateway calls back with."""
    channel = find_callback_channel(request, name)
    if channel is None:
        return refuse_token()
    runtime = runtime_of(request)
    now = runtime.clock.now()
    receipts: list[Receipt] = []
    for fields in await read_payloads(request):
        try:
            receipt = read_receipt(channel.preset, channel.name, fields, now)
        except UnreadableCallback as exc:
            raise InvalidInput(f"Unreadable delivery receipt: {exc}") from None
        if receipt is not None:
            receipts.append(receipt)
    # One that overtook the record of its hand-off is kept and applied when that record lands.
    unmatched = await MessageEvents(
        runtime.db, runtime.clock, find_runs_awaiting_reply_within
    ).record_receipts(receipts)
    if receipts:
        runtime.wake_events()
    return _ok({"received": len(receipts), "unmatched": len(unmatched)})


@route(
    "/v1/channels/{name:str}/inbound",
    http_method=["GET", "POST"],
    include_in_schema=False,
)
async def receive_inbound(request: Request[Any, Any, Any], name: FromPath[str]) -> Response[Any]:
    """Record the inbound SMS a gateway calls back with (joining concatenated parts)."""
    channel = find_callback_channel(request, name)
    if channel is None:
        return refuse_token()
    runtime = runtime_of(request)
    now = runtime.clock.now()
    assembler = inbound_assembler_of(request)
    parts = []
    for fields in await read_payloads(request):
        try:
            part = read_inbound(channel.preset, channel.name, fields, now)
        except UnreadableCallback as exc:
            raise InvalidInput(f"Unreadable inbound SMS: {exc}") from None
        if part is not None:
            parts.append(part)
    ready = add_inbound_parts(assembler, parts, now)
    await MessageEvents(runtime.db, runtime.clock, find_runs_awaiting_reply_within).record_inbound(
        ready
    )
    if ready:
        runtime.wake_events()
    return _ok({"received": len(parts)})


GATEWAY_CALLBACK_ROUTES: list[Any] = [receive_receipts, receive_inbound]


def find_callback_channel(request: Request[Any, Any, Any], name: str) -> HttpChannelConfig | None:
    """The HTTP channel called back, or None when the token is wrong; NotFound if none."""
    config = channel_config_of(request)
    channel = None if config is None else config.find_channel(name)
    if not isinstance(channel, HttpChannelConfig) or channel.callback_token is None:
        # Without a token the channel takes no callbacks at all.
        raise NotFound(f'No HTTP channel named "{name}" takes callbacks')
    expected = channel.callback_token.reveal().encode()
    presented = read_presented_token(request).encode()
    return channel if presented and hmac.compare_digest(presented, expected) else None


def read_presented_token(request: Request[Any, Any, Any]) -> str:
    """The token the caller sent: `?token=` or an `Authorization: Bearer` header."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return str(request.query_params.get(TOKEN_PARAM, ""))


def refuse_token() -> Response[Any]:
    """401 with both error and errorCode: the caller is a gateway, not an API client."""
    body = {"error": "Invalid callback token", "errorCode": "auth.invalidtoken"}
    return Response(body, status_code=401, media_type=MediaType.JSON)


async def read_payloads(request: Request[Any, Any, Any]) -> list[Fields]:
    """The callback's field sets: the query (GET, or a POST without a body), a form, or JSON."""
    query: dict[str, str] = {}
    for key, value in request.query_params.items():
        if key != TOKEN_PARAM:
            query.setdefault(key, str(value))
    body = await request.body() if request.method == "POST" else b""
    if not body.strip():
        payloads: list[Fields] = [query]
    else:
        content_type = request.headers.get("content-type", "").lower()
        if content_type.startswith("multipart/form-data"):
            form = await request.form()
            payloads = [{key: str(value) for key, value in form.items()}]
        elif "json" in content_type or body.lstrip()[:1] in (b"{", b"["):
            payloads = _read_json(body)
        else:
            payloads = [_read_form(body)]
    if not any(payloads):
        raise InvalidInput("The callback carries no fields")
    return payloads


def _read_json(body: bytes) -> list[Fields]:
    try:
        decoded = msgspec.json.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError):
        raise InvalidInput("The callback body is not valid JSON") from None
    items = decoded if isinstance(decoded, list) else [decoded]
    if not items or len(items) > MAX_PAYLOADS or not all(isinstance(i, dict) for i in items):
        raise InvalidInput(f"The callback body must be an object or 1 to {MAX_PAYLOADS} objects")
    return [_flatten(item) for item in items]


def _read_form(body: bytes) -> Fields:
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        raise InvalidInput("The callback body is not a valid form") from None
    fields: dict[str, str] = {}
    for key, value in pairs:
        fields.setdefault(key, value)
    return fields


def _flatten(item: dict[str, Any]) -> Fields:
    """JSON values as the text a form would carry; nested values are not callback fields."""
    fields: dict[str, str] = {}
    for key, value in item.items():
        if isinstance(value, bool):
            fields[key] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            fields[key] = str(value)
    return fields


def _ok(body: dict[str, int]) -> Response[Any]:
    return Response(body, status_code=200, media_type=MediaType.JSON)
