"""Query values every list route shares: times, and the numbers of cursor and page modes."""

from __future__ import annotations

from datetime import UTC, datetime

from tambuli.errors import InvalidField


def parse_list_time(name: str, text: str | None) -> datetime | None:
    """A startDate/endDate query value as an aware UTC time; None when absent."""
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


def parse_list_int(name: str, text: str | None, default: int) -> int:
    """A limit/page/size query value; `default` when absent."""
    if text is None or text.strip() == "":
        return default
    if not text.strip().isascii() or not text.strip().isdigit() or len(text.strip()) > 18:
        raise InvalidField(f"{name} must be a positive whole number", {"field": name})
    return int(text.strip())


_FAILED = {"true": True, "false": False, "all": None, "": None}


def parse_failed_filter(text: str | None) -> bool | None:
    """The `failed` query value of a list: True, False, or None for all."""
    key = (text or "").strip().lower()
    if key not in _FAILED:
        raise InvalidField("failed must be true, false or all", {"field": "failed"})
    return _FAILED[key]


def parse_search(text: str | None) -> str | None:
    """The `search` query value of a list, trimmed; None when empty."""
    if text is not None and "\x00" in text:
        raise InvalidField("search must not contain NUL characters", {"field": "search"})
    return (text or "").strip() or None
