"""The one table from error classes to HTTP statuses, and the engageSPARK error bodies."""

from __future__ import annotations

import logging
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, SerializationException, ValidationException
from litestar.types import ExceptionHandlersMap

from tambuli.errors import (
    BodyTooLarge,
    Conflict,
    EmptyBody,
    Forbidden,
    InsufficientFunds,
    InvalidField,
    InvalidInput,
    MalformedJson,
    NotFound,
    Overloaded,
    ServerBusy,
    ServiceUnavailable,
    StorageLost,
    TambuliError,
    TooManySignInAttempts,
    Unauthorized,
)

log = logging.getLogger("tambuli.api")

STATUS_BY_ERROR: dict[type[TambuliError], int] = {
    InvalidInput: 400,
    Unauthorized: 401,
    Forbidden: 403,
    InsufficientFunds: 402,
    NotFound: 404,
    Conflict: 409,
    BodyTooLarge: 413,
    Overloaded: 429,
    TooManySignInAttempts: 429,
    ServiceUnavailable: 503,
}
# Seconds a client is asked to wait after a 429 or a busy 503.
RETRY_AFTER_SECONDS = 1
# ... and after a 503 that passes by itself (a full disk, failing workers).
RETRY_AFTER_UNAVAILABLE_SECONDS = 5


def status_for(error: TambuliError) -> int:
    """The HTTP status of an error: its nearest class in STATUS_BY_ERROR, else 500."""
    return status_for_class(type(error))


def status_for_class(error_class: type[TambuliError]) -> int:
    """The HTTP status of an error class: its nearest base in STATUS_BY_ERROR, else 500."""
    for cls in error_class.__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 500


def render_error(error: TambuliError) -> Response[dict[str, Any]]:
    """The engageSPARK body for an error.

    401 and 402 bodies carry only `error`, as the spec shows them; the rest add `errorCode`
    and, where there is something to say, `context`.
    """
    status, body, headers = describe_error(error)
    return Response(body, status_code=status, media_type=MediaType.JSON, headers=headers or None)


def describe_error(error: TambuliError) -> tuple[int, dict[str, Any], dict[str, str]]:
    """The status, body and extra headers of an error's answer: the one description that
    Litestar's handlers render (render_error) and the send lane encodes (api/send_lane.py)."""
    status = status_for(error)
    body: dict[str, Any] = {"error": error.message}
    if status not in (401, 402):
        body["errorCode"] = error.error_code
        if error.context:
            body["context"] = error.context
    headers = {}
    if status == 429 or isinstance(error, ServerBusy):
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    elif status == 503 and not isinstance(error, StorageLost):
        # A lost database file needs the operator; the others pass by themselves.
        headers["Retry-After"] = str(RETRY_AFTER_UNAVAILABLE_SECONDS)
    return status, body, headers


def handle_tambuli_error(_: Request[Any, Any, Any], exc: TambuliError) -> Response[Any]:
    """Litestar exception handler for our own errors."""
    return render_error(exc)


def handle_undecodable_body(_: Request[Any, Any, Any], exc: UnicodeDecodeError) -> Response[Any]:
    """A body that is not UTF-8: msgspec raises this past Litestar's JSON error wrapping."""
    return render_error(MalformedJson(f"The request body is not valid UTF-8: {exc.reason}"))


def handle_too_deep(_: Request[Any, Any, Any], exc: RecursionError) -> Response[Any]:
    """JSON nested thousands deep (in a free-form object such as `args`) exhausts the stack."""
    return render_error(InvalidInput("The request body is nested too deeply"))


def _describe_validation(exc: ValidationException) -> tuple[str, dict[str, Any] | None]:
    extra = exc.extra
    if isinstance(extra, list) and extra:
        first = extra[0]
        if isinstance(first, dict):
            message = str(first.get("message") or exc.detail)
            key = first.get("key")
            source = getattr(first.get("source"), "value", first.get("source"))
            text = f"{message} ({source} {key})" if key else message
            return text, {"field": key} if key else None
    return str(exc.detail), None


def _is_missing_body(exc: ValidationException) -> bool:
    # Litestar names the body parameter `data` and reports an absent body as that parameter
    # missing, which would read "'data' (body data)" to a caller who never named anything so.
    extra = exc.extra
    if not isinstance(extra, list) or not extra or not isinstance(extra[0], dict):
        return False
    source = getattr(extra[0].get("source"), "value", extra[0].get("source"))
    first = extra[0]
    return first.get("key") == "data" and first.get("message") == "'data'" and source == "body"


def handle_http_exception(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """Litestar's own errors (routing, parsing, body size) in the engageSPARK shape."""
    status = exc.status_code
    if isinstance(exc, ValidationException):
        if _is_missing_body(exc):
            return render_error(EmptyBody())
        message, context = _describe_validation(exc)
        if "malformed" in message.lower():
            return render_error(MalformedJson(f"The request body is not valid JSON: {message}"))
        return render_error(InvalidField(message, context))
    if status == 404:
        return render_error(NotFound())
    if status == 413:
        return render_error(BodyTooLarge())
    if status == 400:
        detail = str(exc.detail)
        # Litestar turns failures to decode the body as JSON (bad syntax, truncated input,
        # escapes that are not text) into a 400 caused by a SerializationException.
        if isinstance(exc.__cause__, SerializationException) or "malformed" in detail.lower():
            return render_error(MalformedJson(f"The request body is not valid JSON: {detail}"))
        return render_error(InvalidInput(detail))
    code = {405: "request.methodnotallowed", 415: "request.unsupportedmediatype"}.get(
        status, "request.error"
    )
    headers = dict(exc.headers or {})
    return Response(
        {"error": str(exc.detail), "errorCode": code},
        status_code=status,
        media_type=MediaType.JSON,
        headers=headers,
    )


# The body of every 500: the details go to the log, not to the client.
INTERNAL_ERROR_BODY = {"error": "Internal server error", "errorCode": "server.error"}


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Anything else is our bug: log it with the request line, answer a plain 500."""
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return Response(INTERNAL_ERROR_BODY, status_code=500, media_type=MediaType.JSON)


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    TambuliError: handle_tambuli_error,
    HTTPException: handle_http_exception,
    UnicodeDecodeError: handle_undecodable_body,
    RecursionError: handle_too_deep,
    Exception: handle_unexpected,
}
