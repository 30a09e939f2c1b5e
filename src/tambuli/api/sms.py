"""POST /v1/sms/contact and /v1/sms/phonenumber."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import MediaType, Request, Response, post
from litestar.params import JSONBody

from tambuli.api.auth import authorize_token
from tambuli.api.runtime import ApiRuntime, runtime_of
from tambuli.clock import format_utc_timestamp
from tambuli.contacts import phones
from tambuli.contacts.models import PhoneNumber, parse_id, parse_optional_id
from tambuli.errors import AmbiguousPhoneNumber, DuplicateMessage, Unauthorized
from tambuli.messaging.segments import SegmentedMessage, segment_message
from tambuli.messaging.sending import SendRequest, SentMessage, send_sms
from tambuli.messaging.views import (
    NonGsmCharacterBody,
    SentSmsBody,
    StoredMessage,
    render_estimate,
)
from tambuli.organizations.models import parse_authorization_header


class SendSmsFields(msgspec.Struct, rename="camel", kw_only=True):
    """The fields both send routes share."""

    org_id: int | str
    message: str
    from_: str | None = msgspec.field(name="from", default=None)
    client_dedup: str | None = None
    client_push_url: str | None = msgspec.field(name="clientPushURL", default=None)
    client_ref: str | None = None
    full_phone_number: str | None = None
    phone_number: str | None = None
    phone_number_country: str | None = None
    # Legacy name of fullPhoneNumber.
    to: str | None = None


class SendToContactBody(SendSmsFields, kw_only=True):
    """POST /v1/sms/contact: exactly one of contactId, fullPhoneNumber (or to), or
    phoneNumber + phoneNumberCountry."""

    contact_id: int | str | None = None


class SendToNumberBody(SendSmsFields, kw_only=True):
    """POST /v1/sms/phonenumber: exactly one of fullPhoneNumber (or to), or
    phoneNumber + phoneNumberCountry."""


def render_sent(message: StoredMessage, segments: SegmentedMessage | None = None) -> SentSmsBody:
    """The send answer for a stored message (also the body of a 409 for its clientDedup)."""
    if segments is None:  # a 409 repeats a stored message: segment its text again
        segments = segment_message(message.body)
    return SentSmsBody(
        message_id=message.message_id,
        estimate_parts=message.parts,
        estimate_micro=message.price_per_part_micro,
        estimate=render_estimate(message.parts, message.price_per_part_micro),
        delivery_deadline=format_utc_timestamp(message.deadline_at or message.created_at),
        to=message.recipient,
        message=message.body,
        contact_id=message.contact_id or 0,
        client_dedup=message.client_dedup,
        client_push_url=message.client_push_url,
        client_ref=message.client_ref,
        encoding=message.encoding,
        non_gsm_characters=[
            NonGsmCharacterBody(position=c.position, character=c.character)
            for c in segments.non_gsm_characters
        ],
    )


def _phone(body: SendSmsFields, use_contacts: bool) -> PhoneNumber | None:
    # A contact keeps its number's carrier; a send to a number has no use for it.
    full = body.full_phone_number
    if body.to is not None and body.to.strip():
        if (
            full is not None
            and full.strip()
            and (
                phones.normalise_full_number(full).digits
                != phones.normalise_full_number(body.to).digits
            )
        ):
            raise AmbiguousPhoneNumber('"to" is the legacy name of "fullPhoneNumber": give one')
        full = body.to
    return phones.normalise_optional(
        full, body.phone_number, body.phone_number_country, with_carrier=use_contacts
    )


async def accept_send(
    runtime: ApiRuntime,
    authorization: str | None,
    body: SendSmsFields,
    contact_ref: int | str | None,
    use_contacts: bool,
) -> SentMessage:
    """Check and queue one send request; the message queued (see answer_sent).

    DuplicateMessage (answered 409 with the earlier message) when the clientDedup was used
    before; any other refusal is a TambuliError. Whatever it raises, nothing was queued.
    """
    token = parse_authorization_header(authorization)
    if token is None:
        raise Unauthorized()
    org_id = parse_id(body.org_id, "orgId")
    principal = await authorize_token(runtime, token, org_id)
    runtime.refuse_unless_delivering()
    contact_id = parse_optional_id(contact_ref, "contactId")
    phone = _phone(body, use_contacts)
    if (phone is None) == (contact_id is None):
        raise AmbiguousPhoneNumber(
            'Exactly one of "contactId", "fullPhoneNumber", or "phoneNumber" with'
            ' "phoneNumberCountry" must be set'
            if use_contacts
            else None
        )
    wanted = SendRequest(
        org_id=principal.org_id,
        text=body.message,
        sender=body.from_,
        contact_id=contact_id,
        phone=phone,
        use_contacts=use_contacts,
        client_dedup=body.client_dedup or "",
        client_push_url=(body.client_push_url or "").strip(),
        client_ref=body.client_ref or "",
    )
    return await send_sms(runtime.outbox, wanted)


def render_duplicate(exc: DuplicateMessage) -> SentSmsBody:
    """The body of the 409 for a repeated clientDedup: the earlier message, and why."""
    assert isinstance(exc.original, StoredMessage)
    answer = render_sent(exc.original)
    answer.dedup_message_id = exc.original.message_id
    answer.error = exc.message
    answer.error_code = exc.error_code
    return answer


def answer_sent(runtime: ApiRuntime, sent: SentMessage) -> SentSmsBody:
    """The answer to a queued send; an in-process worker starts on it at once."""
    runtime.wake_delivery()
    return render_sent(sent.message, sent.segments)


async def _send(
    request: Request[Any, Any, Any],
    body: SendSmsFields,
    contact_ref: int | str | None,
    use_contacts: bool,
) -> Response[Any]:
    runtime = runtime_of(request)
    try:
        sent = await accept_send(
            runtime, request.headers.get("authorization"), body, contact_ref, use_contacts
        )
    except DuplicateMessage as exc:
        return Response(render_duplicate(exc), status_code=409, media_type=MediaType.JSON)
    return Response(answer_sent(runtime, sent), status_code=200, media_type=MediaType.JSON)


@post("/v1/sms/contact", operation_id="sendSmsContact", tags=["SMS"], status_code=200)
async def send_to_contact(
    request: Request[Any, Any, Any], data: JSONBody[SendToContactBody]
) -> Response[SentSmsBody]:
    """Send an SMS to a contact (found or created by number); the text may be personalised."""
    return await _send(request, data, data.contact_id, use_contacts=True)


@post("/v1/sms/phonenumber", operation_id="sendSmsPhonenumber", tags=["SMS"], status_code=200)
async def send_to_number(
    request: Request[Any, Any, Any], data: JSONBody[SendToNumberBody]
) -> Response[SentSmsBody]:
    """Send an SMS to a number without creating or using a contact; the text is sent as given."""
    return await _send(request, data, None, use_contacts=False)


async def send_to_number_from(
    request: Request[Any, Any, Any], data: SendToNumberBody
) -> Response[Any]:
    """The /v1/sms/phonenumber answer to a body another route read (the legacy bulk URL)."""
    return await _send(request, data, None, use_contacts=False)
