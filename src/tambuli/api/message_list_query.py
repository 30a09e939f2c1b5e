"""The query of the SMS and WhatsApp list routes, read once by a dependency both routes share:
whose messages, which of them (dir, failed, search, startDate, endDate) and which slice (by
cursor: after/limit; by page: page/size)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from litestar import Request
from litestar.di import Provide
from litestar.params import FromPath, FromQuery, QueryParameter

from tambuli.api.auth import authorize_org
from tambuli.api.pagination import (
    parse_failed_filter,
    parse_list_int,
    parse_list_time,
    parse_search,
)
from tambuli.db.engine import Database
from tambuli.errors import InvalidField
from tambuli.messaging import listing
from tambuli.messaging.models import Direction
from tambuli.messaging.store import MessageFilter

R = TypeVar("R", bound=listing.MessageRecord)
_DIRECTIONS = {"inbound": Direction.INGRESS, "outbound": Direction.EGRESS, "all": None, "": None}


@dataclass(frozen=True)
class PageSlice:
    """Page mode: the page number and its size, clamped."""

    page: int
    size: int


@dataclass(frozen=True)
class MessageListQuery:
    """A message list's query, checked: the caller's organization, the filter, and either a
    page (`by_page`) or a cursor (`after`, `limit`)."""

    org_id: int
    wanted: MessageFilter
    by_page: PageSlice | None
    after: str | None
    limit: int


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


async def read_message_list_query(
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
) -> MessageListQuery:
    """The list routes' query values, read as text and checked here to answer engageSPARK's
    error body. The caller is authorized first, so a bad token is 401 before a bad value is 400;
    the numbers of the mode not used are not read."""
    principal = await authorize_org(request, org_id)
    wanted = parse_message_filter(dir, failed, search, start_date, end_date)
    if page is not None or size is not None:
        by_page = PageSlice(
            parse_list_int("page", page, 1),
            parse_list_int("size", size, listing.MAX_PAGE_SIZE, listing.MAX_PAGE_SIZE),
        )
        return MessageListQuery(principal.org_id, wanted, by_page, None, 0)
    count = parse_list_int("limit", limit, listing.MAX_CURSOR_LIMIT, listing.MAX_CURSOR_LIMIT)
    return MessageListQuery(principal.org_id, wanted, None, after, count)


# The dependency of both list routes; each takes it as `list_query`.
LIST_QUERY = {"list_query": Provide(read_message_list_query)}


async def read_message_list(
    db: Database,
    query: MessageListQuery,
    list_page: Callable[[Database, int, MessageFilter, int, int], Awaitable[list[R]]],
    list_after: Callable[
        [Database, int, MessageFilter, str | None, int], Awaitable[listing.MessagePage[R]]
    ],
) -> tuple[listing.MessagePage[R], bool]:
    """A message list's records by page or by cursor, and whether it was by page."""
    if query.by_page is not None:
        found = await list_page(
            db, query.org_id, query.wanted, query.by_page.page, query.by_page.size
        )
        return listing.MessagePage(found, None), True
    return await list_after(db, query.org_id, query.wanted, query.after, query.limit), False
