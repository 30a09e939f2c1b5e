"""GET /v1/organizations/{orgId}/messages/ and …/messages/{messageId}/"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import msgspec
from litestar import Request, get
from litestar.params import FromPath, FromQuery, QueryParameter

from tambuli.api.auth import authorize_org
from tambuli.api.pagination import (
    parse_failed_filter,
    parse_list_int,
    parse_list_time,
    parse_search,
)
from tambuli.api.runtime import runtime_of
from tambuli.db.engine import Database
from tambuli.errors import InvalidField
from tambuli.messaging import listing
from tambuli.messaging.models import Direction
from tambuli.messaging.store import MessageFilter
from tambuli.messaging.views import SmsRecordBody, render_record

MESSAGES_PATH = "/v1/organizations/{org_id:str}/messages"
MESSAGE_PATH = "/v1/organizations/{org_id:str}/messages/{message_id:str}"
R = TypeVar("R", bound=listing.MessageRecord)
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
    org_id: FromPath[str],
    after: FromQuery[str | None] = None,
    limit: FromQuery[str | None] = None,
    page: FromQuery[str | None] = None,
    size: FromQuery[str | None] = None,
    dir: FromQuery[str | None] = None,
    failed: FromQuery[str | None] = None,
    search: FromQuery[str | None] = None,
    start_date: Annotated[str | None, QueryParameter(name="startDate")] = None,
    end_date: Annotated[str | None, QueryParameter(name="endDate")] = None,
) -> MessageListBody:
    """SMS of the organization, newest first: by cursor (after/limit) or by page (page/size)."""
    query = ListQuery(after, limit, page, size, dir, failed, search, start_date, end_date)
    found, paged = await read_message_list(
        request, org_id, query, listing.list_messages_page, listing.list_messages_after
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


@dataclass(frozen=True)
class ListQuery:
    """The query values of a message list (SMS or WhatsApp), as given."""

    after: str | None
    limit: str | None
    page: str | None
    size: str | None
    dir: str | None
    failed: str | None
    search: str | None
    start_date: str | None
    end_date: str | None


async def read_message_list(
    request: Request[Any, Any, Any],
    org_id: str,
    query: ListQuery,
    list_page: Callable[[Database, int, MessageFilter, int, int], Awaitable[list[R]]],
    list_after: Callable[
        [Database, int, MessageFilter, str | None, int], Awaitable[listing.MessagePage[R]]
    ],
) -> tuple[listing.MessagePage[R], bool]:
    """A message list's records by page (page/size) or by cursor (after/limit), and whether
    it was by page: the one reading of the list routes' query."""
    principal = await authorize_org(request, org_id)
    wanted = parse_message_filter(
        query.dir, query.failed, query.search, query.start_date, query.end_date
    )
    db = runtime_of(request).db
    if query.page is not None or query.size is not None:
        found = await list_page(
            db,
            principal.org_id,
            wanted,
            parse_list_int("page", query.page, 1),
            parse_list_int("size", query.size, listing.MAX_PAGE_SIZE, listing.MAX_PAGE_SIZE),
        )
        return listing.MessagePage(found, None), True
    limit = parse_list_int("limit", query.limit, listing.MAX_CURSOR_LIMIT, listing.MAX_CURSOR_LIMIT)
    return await list_after(db, principal.org_id, wanted, query.after, limit), False


@get(MESSAGE_PATH, operation_id="getSms", tags=["SMS"])
async def get_message(
    request: Request[Any, Any, Any], org_id: FromPath[str], message_id: FromPath[str]
) -> SmsRecordBody:
    """One SMS with its delivery status."""
    principal = await authorize_org(request, org_id)
    found = await listing.get_message(runtime_of(request).db, principal.org_id, message_id)
    return render_record(found)
