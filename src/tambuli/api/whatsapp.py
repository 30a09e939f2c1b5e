"""POST /v1/whatsapp/contact, GET /v1/organizations/{orgId}/whatsapp/ and …/{messageId}/."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import MediaType, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from tambuli.api.auth import authorize_org, authorize_token
from tambuli.api.message_list_query import LIST_QUERY, MessageListQuery, read_message_list
from tambuli.api.runtime import runtime_of
from tambuli.channels.whatsapp.base import MediaKind
from tambuli.contacts import phones
from tambuli.contacts.models import parse_id, parse_optional_id
from tambuli.errors import AmbiguousPhoneNumber, DuplicateMessage, Unauthorized
from tambuli.organizations.models import parse_authorization_header
from tambuli.whatsapp import listing
from tambuli.whatsapp.sending import WhatsAppRequest, send_whatsapp
from tambuli.whatsapp.views import (
    SentWhatsAppBody,
    StoredWhatsApp,
    WhatsAppRecordBody,
    render_record,
    render_sent,
)

WHATSAPP_LIST_PATH = "/v1/organizations/{org_id:str}/whatsapp"
WHATSAPP_ONE_PATH = "/v1/organizations/{org_id:str}/whatsapp/{message_id:str}"


class SendWhatsAppBody(msgspec.Struct, rename="camel", kw_only=True):
    """POST /v1/whatsapp/contact: exactly one of contactId, fullPhoneNumber, or phoneNumber +
    phoneNumberCountry; at most one of image, audio, video, document."""

    org_id: int | str
    from_: str = msgspec.field(name="from")
    message: str
    image: str | None = None
    audio: str | None = None
    video: str | None = None
    document: str | None = None
    content: dict[str, Any] | None = None
    contact_id: int | str | None = None
    full_phone_number: str | None = None
    phone_number: str | None = None
    phone_number_country: str | None = None
    client_dedup: str | None = None
    client_push_url: str | None = msgspec.field(name="clientPushURL", default=None)
    client_ref: str | None = None


class WhatsAppListBody(msgspec.Struct, rename="camel"):
    """A list of WhatsApp messages, newest first."""

    messages: list[WhatsAppRecordBody]
    paged: bool
    has_next_page: bool | msgspec.UnsetType = msgspec.UNSET
    next_page: str | msgspec.UnsetType = msgspec.UNSET


def _media(body: SendWhatsAppBody) -> dict[MediaKind, str]:
    given = {
        MediaKind.IMAGE: body.image,
        MediaKind.AUDIO: body.audio,
        MediaKind.VIDEO: body.video,
        MediaKind.DOCUMENT: body.document,
    }
    return {kind: name for kind, name in given.items() if name is not None and name.strip()}


def _render_duplicate(exc: DuplicateMessage) -> SentWhatsAppBody:
    assert isinstance(exc.original, StoredWhatsApp)
    answer = render_sent(exc.original)
    answer.dedup_message_id = exc.original.message_id
    answer.error = exc.message
    answer.error_code = exc.error_code
    return answer


@post("/v1/whatsapp/contact", operation_id="sendWhatsAppContact", tags=["WhatsApp"])
async def send_to_contact(
    request: Request[Any, Any, Any], data: JSONBody[SendWhatsAppBody]
) -> Response[SentWhatsAppBody]:
    """Send a WhatsApp message to a contact (found or created by number)."""
    runtime = runtime_of(request)
    token = parse_authorization_header(request.headers.get("authorization"))
    if token is None:
        raise Unauthorized()
    principal = await authorize_token(runtime, token, parse_id(data.org_id, "orgId"))
    runtime.refuse_unless_delivering()
    contact_id = parse_optional_id(data.contact_id, "contactId")
    phone = phones.normalise_optional(
        data.full_phone_number, data.phone_number, data.phone_number_country, with_carrier=True
    )
    if (phone is None) == (contact_id is None):
        raise AmbiguousPhoneNumber(
            'Exactly one of "contactId", "fullPhoneNumber", or "phoneNumber" with'
            ' "phoneNumberCountry" must be set'
        )
    wanted = WhatsAppRequest(
        org_id=principal.org_id,
        sender=data.from_,
        text=data.message,
        contact_id=contact_id,
        phone=phone,
        media=_media(data),
        content=data.content,
        client_dedup=data.client_dedup or "",
        client_push_url=(data.client_push_url or "").strip(),
        client_ref=data.client_ref or "",
    )
    try:
        sent = await send_whatsapp(runtime.outbox, runtime.services.whatsapp_intake, wanted)
    except DuplicateMessage as exc:
        return Response(_render_duplicate(exc), status_code=409, media_type=MediaType.JSON)
    runtime.services.wake_whatsapp()
    return Response(render_sent(sent), status_code=200, media_type=MediaType.JSON)


@get(WHATSAPP_LIST_PATH, operation_id="getWhatsAppList", tags=["WhatsApp"], dependencies=LIST_QUERY)
async def list_whatsapp(
    request: Request[Any, Any, Any], list_query: NamedDependency[MessageListQuery]
) -> WhatsAppListBody:
    """WhatsApp messages of the organization, newest first, by cursor or by page."""
    found, paged = await read_message_list(
        runtime_of(request).db, list_query, listing.list_messages_page, listing.list_messages_after
    )
    messages = [render_record(m) for m in found.messages]
    if paged:
        return WhatsAppListBody(messages=messages, paged=True)
    return WhatsAppListBody(
        messages=messages,
        paged=False,
        has_next_page=found.next_after is not None,
        next_page=found.next_after or "",
    )


@get(WHATSAPP_ONE_PATH, operation_id="getWhatsApp", tags=["WhatsApp"])
async def get_whatsapp(
    request: Request[Any, Any, Any], org_id: FromPath[str], message_id: FromPath[str]
) -> WhatsAppRecordBody:
    """One WhatsApp message with its delivery status."""
    principal = await authorize_org(request, org_id)
    found = await listing.get_message(runtime_of(request).db, principal.org_id, message_id)
    return render_record(found)
