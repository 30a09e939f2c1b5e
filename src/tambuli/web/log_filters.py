"""The filters of the message logs (SMS and WhatsApp) as the console's query string carries them:
read once by a dependency both log pages share, kept in the form and in the next page's link."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Generic, TypeVar
from urllib.parse import urlencode

from litestar.di import Provide
from litestar.params import FromQuery, QueryParameter

from tambuli.db.engine import Database
from tambuli.errors import InvalidField
from tambuli.messaging.listing import MessageFilter, MessagePage, MessageRecord
from tambuli.messaging.models import Direction

PAGE_SIZE = 50
R = TypeVar("R", bound=MessageRecord)
# A listing's cursor read: the SMS one or the WhatsApp one.
ListAfter = Callable[[Database, int, MessageFilter, str | None, int], Awaitable[MessagePage[R]]]
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


@dataclass(frozen=True)
class LogRequest:
    """What a log page is asked for: the filters, and the cursor ("" for the newest page)."""

    query: LogQuery
    after: str


def read_log_request(
    direction: Annotated[str, QueryParameter(name="dir")] = "",
    failed: FromQuery[str] = "",
    search: FromQuery[str] = "",
    start: FromQuery[str] = "",
    end: FromQuery[str] = "",
    after: FromQuery[str] = "",
) -> LogRequest:
    """The log pages' query values; the filters trimmed, the cursor as given."""
    query = LogQuery(direction.strip(), failed.strip(), search.strip(), start.strip(), end.strip())
    return LogRequest(query, after)


# The dependency of both log pages; each takes it as `log_request`.
LOG_REQUEST = {"log_request": Provide(read_log_request, sync_to_thread=False)}


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


@dataclass(frozen=True)
class LogPage(Generic[R]):
    """The messages a log page shows, the cursor of the next page, and why none are shown."""

    shown: list[R]
    next_after: str | None
    error: str


async def read_log_page(
    db: Database,
    org_id: int,
    asked: LogRequest,
    list_after: ListAfter[R],
) -> LogPage[R]:
    """A page of a log, newest first; a filter or cursor the listing refuses is the page's error
    (shown above an empty log), not an error page."""
    try:
        found = await list_after(
            db, org_id, parse_log_filter(asked.query), asked.after or None, PAGE_SIZE
        )
    except InvalidField as refused:
        return LogPage([], None, refused.message)
    return LogPage(found.messages, found.next_after, "")
