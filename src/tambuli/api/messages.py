"""GET /v1/organizations/{orgId}/messages/ and …/messages/{messageId}/"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath

from tambuli.api.auth import authorize_org
from tambuli.api.message_list_query import LIST_QUERY, MessageListQuery, read_message_list
from tambuli.api.runtime import runtime_of
from tambuli.messaging import listing
from tambuli.messaging.views import SmsRecordBody, render_record

MESSAGES_PATH = "/v1/organizations/{org_id:str}/messages"
MESSAGE_PATH = "/v1/organizations/{org_id:str}/messages/{message_id:str}"


class MessageListBody(msgspec.Struct, rename="camel"):
    """A list of SMS, newest first."""

    messages: list[SmsRecordBody]
    paged: bool
    has_next_page: bool | msgspec.UnsetType = msgspec.UNSET
    next_page: str | msgspec.UnsetType = msgspec.UNSET


@get(MESSAGES_PATH, operation_id="getSmsList", tags=["SMS"], dependencies=LIST_QUERY)
async def list_messages(
    request: Request[Any, Any, Any], list_query: NamedDependency[MessageListQuery]
) -> MessageListBody:
    """SMS of the organization, newest first: by cursor (after/limit) or by page (page/size)."""
    found, paged = await read_message_list(
        runtime_of(request).db, list_query, listing.list_messages_page, listing.list_messages_after
    )
    messages = [render_record(m) for m in found.messages]
    if paged:
        return MessageListBody(messages=messages, paged=True)
    return MessageListBody(
        messages=messages,
        paged=False,
        has_next_page=found.next_after is not None,
        next_page=found.next_after or "",
    )


@get(MESSAGE_PATH, operation_id="getSms", tags=["SMS"])
async def get_message(
    request: Request[Any, Any, Any], org_id: FromPath[str], message_id: FromPath[str]
) -> SmsRecordBody:
    """One SMS with its delivery status."""
    principal = await authorize_org(request, org_id)
    found = await listing.get_message(runtime_of(request).db, principal.org_id, message_id)
    return render_record(found)
