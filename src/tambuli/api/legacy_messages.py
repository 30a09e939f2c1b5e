"""engageSPARK's legacy bulk send: POST /api/v1/messages/sms.

Published clients send `organization_id`, `recipient_type` ("mobile_number" or "contact_id"),
`sender_id`, `message`, and `mobile_numbers` or `contact_ids`. The lists come as JSON arrays,
or as a string holding one (`"[\\"639171234567\\"]"`), and some clients label a JSON body as a
form or send a form body labelled JSON; all of these are read. The answer is one entry per
recipient, `status` "Success" or "Failed"; a refusal of the whole request is the usual error
body plus `status` "Failed" and `errorMessage`, as on the legacy top-up. A body in the shape of
/v1/sms/phonenumber (`orgId`, `to`, `from`, `message`), which one client posts here, is
answered as that route does. See docs/decisions.md, "Legacy routes".
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

import msgspec
from litestar import MediaType, Request, Response, post

from tambuli.api import sms
from tambuli.api.auth import authorize_token
from tambuli.api.errors import describe_error
from tambuli.api.runtime import runtime_of
from tambuli.contacts.models import parse_id
from tambuli.errors import EmptyBody, InvalidField, MalformedJson, TambuliError, Unauthorized
from tambuli.messaging.bulk import BulkOutcome, BulkSend, send_bulk_sms
from tambuli.organizations.models import parse_authorization_header

RECIPIENT_TYPES = {"mobile_number": "mobile_numbers", "contact_id": "contact_ids"}
_FIELDS = ("organization_id", "recipient_type", "sender_id", "message", *RECIPIENT_TYPES.values())


class LegacyRecipientBody(msgspec.Struct):
    """What became of one recipient of a legacy bulk send."""

    status: str
    mobile_number: str
    contact_id: int
    message_id: str
    error: str
    errorCode: str  # noqa: N815  (the spelling of every engageSPARK error body)
    errorMessage: str  # noqa: N815  (the legacy routes' name of `error`, as on the top-up)


def _decode_body(raw: bytes) -> dict[str, Any]:
    """The request as a dict, from JSON or (whatever the label says) a form body."""
    if not raw.strip():
        raise EmptyBody()
    try:
        decoded = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        decoded = _decode_form(raw)
    if not isinstance(decoded, dict):
        raise MalformedJson("The body must be a JSON object")
    return decoded


def _decode_form(raw: bytes) -> dict[str, Any]:
    """A form body: `mobile_numbers[]=…`, `mobile_numbers[0]=…` and repeated keys are lists."""
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        raise MalformedJson() from None
    form: dict[str, Any] = {}
    for key, value in pairs:
        name = key.split("[", 1)[0]
        if name in RECIPIENT_TYPES.values():
            form.setdefault(name, []).append(value)
        elif name in _FIELDS:
            form[name] = value
    if "organization_id" not in form:
        raise MalformedJson()
    return form


def _read_list(body: dict[str, Any], field: str) -> list[Any]:
    """The recipients: a JSON array, or a string holding one (or holding a comma list)."""
    value = body.get(field)
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError:
                raise InvalidField(f"{field} is not a list", {"field": field}) from None
        else:
            value = [part for part in text.split(",") if part.strip()]
    if not isinstance(value, list):
        raise InvalidField(f"{field} must be a list", {"field": field})
    return value


def _read_v1_body(body: dict[str, Any]) -> sms.SendToNumberBody:
    """A /v1/sms/phonenumber body sent to this URL (one published client does so)."""
    try:
        return msgspec.convert(body, sms.SendToNumberBody)
    except msgspec.ValidationError as exc:
        raise InvalidField(str(exc)) from None


def _read_id(value: Any, field: str) -> int:
    """A positive ID given as a JSON number or a string of digits."""
    if not isinstance(value, int | str):
        raise InvalidField(f"{field} must be an ID", {"field": field})
    return parse_id(value, field)


def _read_text(body: dict[str, Any], field: str, required: bool) -> str | None:
    value = body.get(field)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise InvalidField(f"{field} must be text", {"field": field})
    return value


def _read_request(body: dict[str, Any], org_id: int) -> BulkSend:
    kind = body.get("recipient_type")
    if kind not in RECIPIENT_TYPES:
        raise InvalidField(
            'recipient_type must be "mobile_number" or "contact_id"', {"field": "recipient_type"}
        )
    field = RECIPIENT_TYPES[kind]
    entries = _read_list(body, field)
    text = _read_text(body, "message", required=True)
    assert text is not None
    sender = _read_text(body, "sender_id", required=False)
    if kind == "contact_id":
        ids = tuple(_read_id(entry, f"{field}[{i}]") for i, entry in enumerate(entries))
        return BulkSend(org_id=org_id, text=text, sender=sender, contact_ids=ids)
    numbers = []
    for index, entry in enumerate(entries):
        if isinstance(entry, bool) or not isinstance(entry, str | int):
            raise InvalidField(f"{field}[{index}] must be a number", {"field": f"{field}[{index}]"})
        numbers.append(str(entry))
    return BulkSend(org_id=org_id, text=text, sender=sender, numbers=tuple(numbers))


def _render(outcome: BulkOutcome) -> LegacyRecipientBody:
    message, error = outcome.message, outcome.error
    return LegacyRecipientBody(
        status="Success" if message is not None else "Failed",
        mobile_number=outcome.recipient,
        contact_id=outcome.contact_id,
        message_id="" if message is None else message.message_id,
        error="" if error is None else error.message,
        errorCode="" if error is None else error.error_code,
        errorMessage="" if error is None else error.message,
    )


def _refusal(error: TambuliError) -> Response[Any]:
    """A refusal of the whole request: the usual error body, plus the legacy status fields."""
    status, body, headers = describe_error(error)
    body.update({"status": "Failed", "errorMessage": error.message})
    return Response(body, status_code=status, media_type=MediaType.JSON, headers=headers or None)


@post(
    "/api/v1/messages/sms",
    operation_id="legacySendBulkSms",
    tags=["SMS"],
    status_code=200,
)
async def send_bulk(request: Request[Any, Any, Any]) -> Response[Any]:
    """Send one text to many numbers or contacts; one entry per recipient, in order."""
    runtime = runtime_of(request)
    try:
        token = parse_authorization_header(request.headers.get("authorization"))
        if token is None:
            raise Unauthorized()
        body = _decode_body(await request.body())
        if "organization_id" not in body and "orgId" in body:
            return await sms.send_to_number_from(request, _read_v1_body(body))
        org_id = _read_id(body.get("organization_id"), "organization_id")
        principal = await authorize_token(runtime, token, org_id)
        runtime.refuse_unless_delivering()
        outcomes = await send_bulk_sms(runtime.outbox, _read_request(body, principal.org_id))
    except TambuliError as exc:
        return _refusal(exc)
    if any(outcome.message is not None for outcome in outcomes):
        runtime.wake_delivery()
    return Response(
        [_render(outcome) for outcome in outcomes], status_code=200, media_type=MediaType.JSON
    )
