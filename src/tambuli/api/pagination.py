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


def parse_list_int(name: str, text: str | None, default: int, highest: int | None = None) -> int:
    """A limit/page/size query value, clamped into 1..highest; `default` when absent."""
    if text is None or text.strip() == "":
        return default
    if not text.strip().isascii() or not text.strip().isdigit() or len(text.strip()) > 18:
        raise InvalidField(f"{name} must be a positive whole number", {"field": name})
    return clamp_list_number(int(text.strip()), highest)


def clamp_list_number(value: int, highest: int | None) -> int:
    """A page number, size or limit moved into 1..highest, as paging APIs usually do: asking for
    more than a page may hold gets a full page, not an error (docs/decisions.md)."""
    value = max(value, 1)
    return value if highest is None else min(value, highest)


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


# Published clients send every filter of a form, the unused ones empty; empty means no filter.
_FLAGS = {"true": True, "1": True, "false": False, "0": False, "": None}


def parse_query_id(name: str, text: str | None, highest: int) -> int | None:
    """An ID query value (1..highest); None when absent or empty."""
    if text is None or not text.strip():
        return None
    clean = text.strip()
    if not clean.isascii() or not clean.isdigit() or len(clean) > 19:
        raise InvalidField(f"{name}: {text!r} is not an ID", {"field": name})
    if not 0 < int(clean) <= highest:
        raise InvalidField(f"{name}: {text!r} is not an ID", {"field": name})
    return int(clean)


def parse_query_flag(name: str, text: str | None) -> bool | None:
    """A true/false query value; None when absent or empty."""
    key = (text or "").strip().lower()
    if key not in _FLAGS:
        raise InvalidField(f"{name} must be true or false", {"field": name})
    return _FLAGS[key]
