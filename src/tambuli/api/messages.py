"""GET /v1/organizations/{orgId}/messages/ and …/messages/{messageId}/"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import Request, get
from litestar.params import Parameter

from tambuli.api.auth import authorize_org
from tambuli.api.runtime import runtime_of
from tambuli.errors import InvalidField
from tambuli.messaging import listing
from tambuli.messaging.models import Direction
from tambuli.messaging.store import MessageFilter
from tambuli.messaging.views import SmsRecordBody, render_record

MESSAGES_PATH = "/v1/organizations/{org_id:str}/messages"
MESSAGE_PATH = "/v1/organizations/{org_id:str}/messages/{message_id:str}"
_DIRECTIONS = {"inbound": Direction.INGRESS, "outbound": Direction.EGRESS, "all": None, "": None}
_FAILED = {"true": True, "false": False, "all": None, "": None}


class MessageListBody(msgspec.Struct, rename="camel"):
    """A list of SMS, newest first."""

    messages: list[SmsRecordBody]
    paged: bool
    has_next_page: bool | msgspec.UnsetType = msgspec.UNSET
    next_page: str | msgspec.UnsetType = msgspec.UNSET


def _parse_time(name: str, text: str | None) -> datetime | None:
    if text is None or not text.strip():
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidField(f"{name} must be an RFC 3339 date-time", {"field": name}) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError as exc:
        raise InvalidField(f"{name} is outside the calendar", {"field": name}) from exc


def _parse_int(name: str, text: str | None, default: int) -> int:
    if text is None or text.strip() == "":
        return default
    if not text.strip().isascii() or not text.strip().isdigit() or len(text.strip()) > 18:
        raise InvalidField(f"{name} must be a positive whole number", {"field": name})
    return int(text.strip())


def _filter(
    dir_: str | None, failed: str | None, search: str | None, start: str | None, end: str | None
) -> MessageFilter:
    direction_key = (dir_ or "").strip().lower()
    failed_key = (failed or "").strip().lower()
    if direction_key not in _DIRECTIONS:
        raise InvalidField("dir must be inbound, outbound or all", {"field": "dir"})
    if failed_key not in _FAILED:
        raise InvalidField("failed must be true, false or all", {"field": "failed"})
    if search is not None and "\x00" in search:
        raise InvalidField("search must not contain NUL characters", {"field": "search"})
    return MessageFilter(
        direction=_DIRECTIONS[direction_key],
        failed=_FAILED[failed_key],
        search=(search or "").strip() or None,
        start=_parse_time("startDate", start),
        end=_parse_time("endDate", end),
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
    wanted = _filter(dir, failed, search, start_date, end_date)
    db = runtime_of(request).db
    if page is not None or size is not None:
        found = await listing.list_messages_page(
            db,
            principal.org_id,
            wanted,
            _parse_int("page", page, 1),
            _parse_int("size", size, listing.MAX_PAGE_SIZE),
        )
        return MessageListBody(messages=[render_record(m) for m in found], paged=True)
    result = await listing.list_messages_after(
        db, principal.org_id, wanted, after, _parse_int("limit", limit, listing.MAX_CURSOR_LIMIT)
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
