"""Messages: the log with the API's filters, and each message with its delivery timeline and
the replies to it. Pages showing messages in flight refresh a fragment of themselves."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath

from tambuli.messaging import listing, timeline
from tambuli.messaging.models import Direction, MessageStatus
from tambuli.messaging.views import StoredMessage
from tambuli.organizations.models import Role
from tambuli.web.access import require_member
from tambuli.web.context import console_of
from tambuli.web.log_filters import LOG_REQUEST, LogRequest, read_log_page
from tambuli.web.rendering import render_page
from tambuli.web.send_pages import FRAGMENT_HEADER

# Seconds between two looks at messages still in flight.
REFRESH_SECONDS = 3


def describe_status(message: StoredMessage) -> str:
    """One word for where a message stands: queued, sent, delivered, failed or received."""
    if message.direction is Direction.INGRESS:
        return "received"
    if message.status is MessageStatus.FAILED or message.receipt == "failed":
        return "failed"
    if message.receipt == "confirmed":
        return "delivered"
    return "sent" if message.status is MessageStatus.ACCEPTED else "queued"


@get("/orgs/{org_id:int}/messages", include_in_schema=False, dependencies=LOG_REQUEST)
async def messages_page(
    request: Request[Any, Any, Any],
    org_id: FromPath[int],
    log_request: NamedDependency[LogRequest],
) -> Response[Any]:
    """The log, newest first, 50 a page (by cursor, so new messages do not shift pages)."""
    member = await require_member(request, org_id, Role.VIEWER)
    console = console_of(request)
    query = log_request.query
    found = await read_log_page(console.db, member.org_id, log_request, listing.list_messages_after)
    now = console.clock.now()
    in_flight = any(not timeline.is_message_final(m, now) for m in found.shown)
    template = "messages_rows.html" if request.headers.get(FRAGMENT_HEADER) else "messages.html"
    return await render_page(
        request,
        template,
        status_code=400 if found.error else 200,
        member=member,
        query=query,
        messages=[(m, describe_status(m)) for m in found.shown],
        next_link=query.link(found.next_after) if found.next_after else "",
        first_page=not log_request.after,
        error=found.error,
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
