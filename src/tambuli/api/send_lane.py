"""A short way through for sends, in front of the Litestar app.

POST /v1/sms/phonenumber and /v1/sms/contact carry nearly all of a busy server's requests.
Litestar's per-request work around their handler (the signature model, the body extractor, the
response object) measured about 100 µs a request here, as much as storing and delivering the
message costs; a raw ASGI route on the same server answers in under half that. The lane reads
the body itself, decodes it with the routes' own structs and calls the same `accept_send`.

Once the body decodes, the lane answers the send whatever happens to it: a success with
`answer_sent`, a refusal (a bad token, too little money, an overloaded server) with the one
error description the Litestar handlers use (`describe_error`, status, body and headers), a
repeated clientDedup with the route's own 409 body, and our bug as the usual logged 500. The
send runs once: nothing it met is ever asked again through the route. Only a body the strict
decoder refuses (or one not read whole) goes to the Litestar route, before anything ran, for
its lax conversion to accept or its handlers to refuse; each such hand-over is logged.

Every request passes through here, so the lane also counts them (tambuli/metrics.py): each
answer by route and status, and each send as accepted or refused by its errorCode.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import msgspec
from litestar.enums import ScopeType
from litestar.types import (
    ASGIApp,
    HTTPReceiveMessage,
    Message,
    Receive,
    ReceiveMessage,
    Scope,
    Send,
)

from tambuli.api.body_fields import log_unknown_fields
from tambuli.api.errors import INTERNAL_ERROR_BODY, STATUS_BY_ERROR, describe_error, status_for
from tambuli.api.runtime import ApiRuntime
from tambuli.api.sms import (
    SendSmsFields,
    SendToContactBody,
    SendToNumberBody,
    accept_send,
    answer_sent,
    render_duplicate,
)
from tambuli.errors import DuplicateMessage, InsufficientFunds, TambuliError, Unauthorized
from tambuli.metrics import HTTP_REQUESTS, SEND_ACCEPTED, SENDS, CounterChild

log = logging.getLogger("tambuli.api")


@dataclass(frozen=True)
class _Route:
    """How one send route reads its body, and its counter of successes (bound once)."""

    path: str
    body_type: type[SendSmsFields]
    use_contacts: bool
    decoder: msgspec.json.Decoder[SendSmsFields] = field(init=False)
    answered: CounterChild = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "answered", HTTP_REQUESTS.labels("POST", self.path, "200"))
        object.__setattr__(self, "decoder", msgspec.json.Decoder(self.body_type, strict=True))


# Strict decoding accepts a subset of what Litestar's lax conversion accepts, with the same
# result (unknown fields ignored by both); anything else is Litestar's to accept or refuse.
_ROUTES = {
    route.path: route
    for route in (
        _Route("/v1/sms/phonenumber", SendToNumberBody, False),
        _Route("/v1/sms/contact", SendToContactBody, True),
    )
}
_ENCODER = msgspec.json.Encoder()
# An answer: status, body and the headers beyond content-type and content-length.
_Answer = tuple[int, bytes, list[tuple[bytes, bytes]]]
_JSON = b"application/json"
# 401 and 402 bodies carry no errorCode (the spec's shape); the refusal is counted by the code
# of the error that answers with that status.
_CODE_OF_STATUS = {
    STATUS_BY_ERROR[Unauthorized]: Unauthorized.error_code,
    STATUS_BY_ERROR[InsufficientFunds]: InsufficientFunds.error_code,
}


class SendLane:
    """An ASGI app: the send routes' successes answered here, everything else by `app`
    (the Litestar app built with `runtime`)."""

    def __init__(self, app: ASGIApp, runtime: ApiRuntime) -> None:
        self._app = app
        self._runtime = runtime
        self._max_body = runtime.settings.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection scope."""
        if scope["type"] != ScopeType.HTTP:
            await self._app(scope, receive, send)
            return
        post = scope["method"] == "POST"
        route = _ROUTES.get(scope["path"]) if post else None
        if route is None:
            # The send routes answer with a trailing slash too; Litestar's route takes those.
            is_send = post and scope["path"].rstrip("/") in _ROUTES
            counting = _count_send_answer if is_send else _count_answer
            await self._app(scope, receive, counting(scope, send))
            return
        body, last = await _read_body(receive, self._max_body)
        if last["type"] != "http.request":
            return  # the client has gone: there is no one to answer
        complete = not last.get("more_body", False)
        answer = None
        if complete and len(body) <= self._max_body:
            answer = await self._try_send(route, scope, body)
        else:
            # Litestar's route answers a body over the limit with its 413.
            log.debug("handing POST %s to Litestar: body over %d bytes", route.path, self._max_body)
        if answer is None:
            await self._app(
                scope, _replay(body, complete, receive), _count_send_answer(scope, send)
            )
            return
        status, content, extra_headers = answer
        if status == 200:
            route.answered.inc()
            SEND_ACCEPTED.inc()
        else:
            HTTP_REQUESTS.labels("POST", route.path, str(status)).inc()
            SENDS.labels("refused", _read_error_code(status, content)).inc()
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

    async def _try_send(self, route: _Route, scope: Scope, body: bytes) -> _Answer | None:
        """The status, body and extra headers of the send's answer; None for Litestar to
        answer a body the strict decoder refused (nothing has run yet)."""
        try:
            fields = route.decoder.decode(body)
        except Exception:  # msgspec's errors, and what deep or undecodable text raises
            log.debug("handing POST %s to Litestar", route.path, exc_info=True)
            return None
        if log.isEnabledFor(logging.DEBUG):
            log_unknown_fields(msgspec.json.decode(body), route.body_type, route.path)
        try:
            contact_ref = fields.contact_id if isinstance(fields, SendToContactBody) else None
            sent = await accept_send(
                self._runtime,
                _read_authorization(scope),
                fields,
                contact_ref,
                route.use_contacts,
            )
        except DuplicateMessage as exc:
            return status_for(exc), _ENCODER.encode(render_duplicate(exc)), []
        except TambuliError as exc:
            return _describe_refusal(exc)
        except Exception:
            # What Litestar's handler for the unexpected does (api/errors.py).
            log.exception("unhandled error on POST %s", scope["path"])
            return 500, _ENCODER.encode(INTERNAL_ERROR_BODY), []
        try:
            return 200, _ENCODER.encode(answer_sent(self._runtime, sent)), []
        except Exception:
            log.exception(
                "answering a queued send to %s failed",
                scope["path"],
                extra={"org_id": sent.message.org_id, "message_id": sent.message.message_id},
            )
            return 500, _ENCODER.encode(INTERNAL_ERROR_BODY), []


def _describe_refusal(error: TambuliError) -> _Answer:
    """A refusal's answer, from the description the Litestar handlers render."""
    status, content, headers = describe_error(error)
    encoded = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
    return status, _ENCODER.encode(content), encoded


def _count_answer(scope: Scope, send: Send) -> Send:
    """`send`, counting the answer by the route Litestar matched and its status."""

    async def counted(message: Message) -> None:
        if message["type"] == "http.response.start":
            # Litestar writes the matched route's template into the scope; none: no route.
            route = scope.get("path_template") or "unmatched"
            method = scope.get("method", "")
            HTTP_REQUESTS.labels(method, route, str(message["status"])).inc()
        await send(message)

    return counted


def _count_send_answer(scope: Scope, send: Send) -> Send:
    """`send` for a send request the lane passed on: counted as a request, and as a send
    accepted or refused by the errorCode of its answer."""
    status = 0
    chunks: list[bytes] = []
    count_request = _count_answer(scope, send)

    async def counted(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body" and status != 200:
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                SENDS.labels("refused", _read_error_code(status, b"".join(chunks))).inc()
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            SEND_ACCEPTED.inc()
        await count_request(message)

    return counted


def _read_error_code(status: int, body: bytes) -> str:
    """The errorCode of an error answer (refusals are the rare case: parsing it is cheap)."""
    try:
        decoded = msgspec.json.decode(body)
    except msgspec.DecodeError:
        decoded = None
    code = decoded.get("errorCode") if isinstance(decoded, dict) else None
    if isinstance(code, str) and code:
        return code
    return _CODE_OF_STATUS.get(status, f"http.{status}")


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
