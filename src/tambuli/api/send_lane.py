"""A short way through for successful sends, in front of the Litestar app.

POST /v1/sms/phonenumber and /v1/sms/contact carry nearly all of a busy server's requests.
Litestar's per-request work around their handler (the signature model, the body extractor, the
response object) measured about 100 µs a request here, as much as storing and delivering the
message costs; a raw ASGI route on the same server answers in under half that. The lane reads
the body itself, decodes it with the routes' own structs and calls the same `accept_send`.

It answers only successes. Whatever goes wrong before a message is queued (a body the strict
decoder refuses, a bad token, a duplicate, too little money) hands the request, body and all, to
the Litestar app, whose route answers it exactly as it would have: the error bodies come from
one place, and queueing refused means nothing was written, so the second attempt is the first
that counts. Once a message is queued the request never reaches the route, which would queue
it again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import msgspec
from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPReceiveMessage, Receive, ReceiveMessage, Scope, Send

from tambuli.api.errors import INTERNAL_ERROR_BODY, describe_error
from tambuli.api.runtime import ApiRuntime
from tambuli.api.sms import (
    SendSmsFields,
    SendToContactBody,
    SendToNumberBody,
    accept_send,
    answer_sent,
)
from tambuli.errors import ServiceUnavailable

log = logging.getLogger("tambuli.api")


@dataclass(frozen=True)
class _Route:
    """How one send route reads its body."""

    decoder: msgspec.json.Decoder[SendSmsFields]
    use_contacts: bool


# Strict decoding accepts a subset of what Litestar's lax conversion accepts, with the same
# result; anything else is Litestar's to accept or refuse.
_ROUTES = {
    "/v1/sms/phonenumber": _Route(msgspec.json.Decoder(SendToNumberBody, strict=True), False),
    "/v1/sms/contact": _Route(msgspec.json.Decoder(SendToContactBody, strict=True), True),
}
_ENCODER = msgspec.json.Encoder()
_JSON = b"application/json"


class SendLane:
    """An ASGI app: the send routes' successes answered here, everything else by `app`
    (the Litestar app built with `runtime`)."""

    def __init__(self, app: ASGIApp, runtime: ApiRuntime) -> None:
        self._app = app
        self._runtime = runtime
        self._max_body = runtime.settings.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection scope."""
        route = None
        if scope["type"] == ScopeType.HTTP and scope["method"] == "POST":
            route = _ROUTES.get(scope["path"])
        if route is None:
            await self._app(scope, receive, send)
            return
        body, last = await _read_body(receive, self._max_body)
        if last["type"] != "http.request":
            return  # the client has gone: there is no one to answer
        complete = not last.get("more_body", False)
        answer = await self._try_send(route, scope, body) if complete else None
        if answer is None:
            await self._app(scope, _replay(body, complete, receive), send)
            return
        status, content, extra_headers = answer
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", _JSON),
                    (b"content-length", str(len(content)).encode()),
                    *extra_headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": content, "more_body": False})

    async def _try_send(
        self, route: _Route, scope: Scope, body: bytes
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]] | None:
        """The status, body and extra headers to answer once the message is queued, or when
        the server takes no sends now; None for Litestar to answer."""
        try:
            fields = route.decoder.decode(body)
            contact_ref = fields.contact_id if isinstance(fields, SendToContactBody) else None
            sent = await accept_send(
                self._runtime,
                _read_authorization(scope),
                fields,
                contact_ref,
                route.use_contacts,
            )
        except ServiceUnavailable as exc:
            # The server's state, not the request: asking again through Litestar would only
            # count the same refusal twice.
            status, content, headers = describe_error(exc)
            encoded = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
            return status, _ENCODER.encode(content), encoded
        except Exception:
            # Refused, or our bug: either way nothing was queued, and Litestar's route meets
            # the same request again and answers (or logs) it in the usual shape.
            return None
        try:
            return 200, _ENCODER.encode(answer_sent(self._runtime, sent)), []
        except Exception:
            log.exception("answering a queued send to %s failed", scope["path"])
            return 500, _ENCODER.encode(INTERNAL_ERROR_BODY), []


def _read_authorization(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            return value.decode("latin-1")
    return None


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, ReceiveMessage]:
    """The body read until its end, a disconnect or past `limit` bytes; and the last message."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), message
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if size > limit or not message.get("more_body", False):
            return b"".join(chunks), message


def _replay(body: bytes, complete: bool, receive: Receive) -> Receive:
    """A receive that gives what was read first, then whatever is still to come."""
    pending: list[HTTPReceiveMessage] = [
        {"type": "http.request", "body": body, "more_body": not complete}
    ]

    async def replayed() -> ReceiveMessage:
        if pending:
            return pending.pop()
        return await receive()

    return replayed
