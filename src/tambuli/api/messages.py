"""GET /v1/organizations/{orgId}/messages/ and …/messages/{messageId}/"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, get
from litestar.params import Parameter

from tambuli.api.auth import authorize_org
from tambuli.api.pagination import (
    parse_failed_filter,
    parse_list_int,
    parse_list_time,
    parse_search,
)
from tambuli.api.runtime import runtime_of
from tambuli.errors import InvalidField
from tambuli.messaging import listing
from tambuli.messaging.models import Direction
from tambuli.messaging.store import MessageFilter
from tambuli.messaging.views import SmsRecordBody, render_record

MESSAGES_PATH = "/v1/organizations/{org_id:str}/messages"
MESSAGE_PATH = "/v1/organizations/{org_id:str}/messages/{message_id:str}"
_DIRECTIONS = {"inbound": Direction.INGRESS, "outbound": Direction.EGRESS, "all": None, "": None}


class MessageListBody(msgspec.Struct, rename="camel"):
    """A list of SMS, newest first."""

    messages: list[SmsRecordBody]
    paged: bool
    has_next_page: bool | msgspec.UnsetType = msgspec.UNSET
    next_page: str | msgspec.UnsetType = msgspec.UNSET


def parse_message_filter(
    dir_: str | None, failed: str | None, search: str | None, start: str | None, end: str | None
) -> MessageFilter:
    """The filters of a message list (SMS or WhatsApp) from its query values."""
    direction_key = (dir_ or "").strip().lower()
    if direction_key not in _DIRECTIONS:
        raise InvalidField("dir must be inbound, outbound or all", {"field": "dir"})
    return MessageFilter(
        direction=_DIRECTIONS[direction_key],
        failed=parse_failed_filter(failed),
        search=parse_search(search),
        start=parse_list_time("startDate", start),
        end=parse_list_time("endDate", end),
    )


@get(MESSAGES_PATH, operation_id="getSmsList", tags=["SMS"])
async def list_messages(
    request: Request[Any, Any, Any],
    org_id: str,
    after: str | None = None,
    limit: str | None = None,
    page: str | None = None,
    size: str | None = None,
    dir: str | None = None,
    failed: str | None = None,
    search: str | None = None,
    start_date: Annotated[str | None, Parameter(query="startDate")] = None,
    end_date: Annotated[str | None, Parameter(query="endDate")] = None,
) -> MessageListBody:
    """SMS of the organization, newest first: by cursor (after/limit) or by page (page/size)."""
    principal = await authorize_org(request, org_id)
    wanted = parse_message_filter(dir, failed, search, start_date, end_date)
    db = runtime_of(request).db
    if page is not None or size is not None:
        found = await listing.list_messages_page(
            db,
            principal.org_id,
            wanted,
            parse_list_int("page", page, 1),
            parse_list_int("size", size, listing.MAX_PAGE_SIZE, listing.MAX_PAGE_SIZE),
        )
        return MessageListBody(messages=[render_record(m) for m in found], paged=True)
    result = await listing.list_messages_after(
        db,
        principal.org_id,
        wanted,
        after,
        parse_list_int("limit", limit, listing.MAX_CURSOR_LIMIT, listing.MAX_CURSOR_LIMIT),
    )
    return MessageListBody(
        messages=[render_record(m) for m in result.messages],
        paged=False,
        has_next_page=result.next_after is not None,
        next_page=result.next_after or "",
    )


@get(MESSAGE_PATH, operation_id="getSms", tags=["SMS"])
async def get_message(
    request: Request[Any, Any, Any], org_id: str, message_id: str
) -> SmsRecordBody:
    """One SMS with its delivery status."""
    principal = await authorize_org(request, org_id)
    found = await listing.get_message(runtime_of(request).db, principal.org_id, message_id)
    return render_record(found)
