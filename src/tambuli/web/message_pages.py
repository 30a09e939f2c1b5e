"""Messages: the log with the API's filters, and each message with its delivery timeline and
the replies to it. Pages showing messages in flight refresh a fragment of themselves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Request, Response, get
from litestar.params import FromPath, FromQuery, QueryParameter

from tambuli.errors import InvalidField
from tambuli.messaging import listing, timeline
from tambuli.messaging.listing import MessageFilter
from tambuli.messaging.models import Direction, MessageStatus
from tambuli.messaging.views import StoredMessage
from tambuli.organizations.models import Role
from tambuli.web.access import require_member
from tambuli.web.context import console_of
from tambuli.web.rendering import render_page
from tambuli.web.send_pages import FRAGMENT_HEADER

PAGE_SIZE = 50
# Seconds between two looks at messages still in flight.
REFRESH_SECONDS = 3
_DIRECTIONS = {"": None, "outbound": Direction.EGRESS, "inbound": Direction.INGRESS}
_FAILED = {"": None, "yes": True, "no": False}


@dataclass(frozen=True)
class LogQuery:
    """The log's filters as typed (kept in the form and in the next page's link)."""

    dir: str = ""
    failed: str = ""
    search: str = ""
    start: str = ""
    end: str = ""

    def link(self, after: str = "") -> str:
        """The query string of this filter (and a cursor)."""
        pairs = {k: v for k, v in vars(self).items() if v}
        if after:
            pairs["after"] = after
        return urlencode(pairs)


def _day(name: str, text: str, *, end: bool) -> datetime | None:
    if not text:
        return None
    try:
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError as exc:
        raise InvalidField(f"{name} must be a date like 2026-01-31", {"field": name}) from exc
    # The end day is included: messages before the next midnight.
    return day + timedelta(days=1) if end else day


def parse_log_filter(query: LogQuery) -> MessageFilter:
    """The listing filter of the log's fields (InvalidField for a value the form never offers)."""
    if query.dir not in _DIRECTIONS:
        raise InvalidField("Direction must be inbound, outbound or all", {"field": "dir"})
    if query.failed not in _FAILED:
        raise InvalidField("Failed must be yes, no or all", {"field": "failed"})
    if "\x00" in query.search:
        raise InvalidField("search must not contain NUL characters", {"field": "search"})
    return MessageFilter(
        direction=_DIRECTIONS[query.dir],
        failed=_FAILED[query.failed],
        search=query.search or None,
        start=_day("From", query.start, end=False),
        end=_day("To", query.end, end=True),
    )


def describe_status(message: StoredMessage) -> str:
    """One word for where a message stands: queued, sent, delivered, failed or received."""
    if message.direction is Direction.INGRESS:
        return "received"
    if message.status is MessageStatus.FAILED or message.receipt == "failed":
        return "failed"
    if message.receipt == "confirmed":
        return "delivered"
    return "sent" if message.status is MessageStatus.ACCEPTED else "queued"


@get("/orgs/{org_id:int}/messages", include_in_schema=False)
async def messages_page(
    request: Request[Any, Any, Any],
    org_id: FromPath[int],
    direction: Annotated[str, QueryParameter(name="dir")] = "",
    failed: FromQuery[str] = "",
    search: FromQuery[str] = "",
    start: FromQuery[str] = "",
    end: FromQuery[str] = "",
    after: FromQuery[str] = "",
) -> Response[Any]:
    """The log, newest first, 50 a page (by cursor, so new messages do not shift pages)."""
    member = await require_member(request, org_id, Role.VIEWER)
    console = console_of(request)
    query = LogQuery(direction.strip(), failed.strip(), search.strip(), start.strip(), end.strip())
    error, shown, next_after = "", [], None
    try:
        found = await listing.list_messages_after(
            console.db, member.org_id, parse_log_filter(query), after or None, PAGE_SIZE
        )
        shown, next_after = found.messages, found.next_after
    except InvalidField as refused:
        error = refused.message
    now = console.clock.now()
    in_flight = any(not timeline.is_message_final(m, now) for m in shown)
    template = "messages_rows.html" if request.headers.get(FRAGMENT_HEADER) else "messages.html"
    return await render_page(
        request,
        template,
        status_code=400 if error else 200,
        member=member,
        query=query,
        messages=[(m, describe_status(m)) for m in shown],
        next_link=query.link(next_after) if next_after else "",
        first_page=not after,
        error=error,
        in_flight=in_flight,
        refresh_seconds=REFRESH_SECONDS,
    )


@get("/orgs/{org_id:int}/messages/{message_id:str}", include_in_schema=False)
async def message_page(
    request: Request[Any, Any, Any], org_id: FromPath[int], message_id: FromPath[str]
) -> Response[Any]:
    """One message: its facts, its delivery timeline and the replies to it."""
    member = await require_member(request, org_id, Role.VIEWER)
    console = console_of(request)
    found = await timeline.read_message_timeline(console.db, member.org_id, message_id)
    in_flight = not timeline.is_message_final(found.message, console.clock.now())
    template = "message_detail.html" if request.headers.get(FRAGMENT_HEADER) else "message.html"
    return await render_page(
        request,
        template,
        member=member,
        found=found,
        status=describe_status(found.message),
        in_flight=in_flight,
        refresh_seconds=REFRESH_SECONDS,
    )


ROUTES = [messages_page, message_page]
