"""Free text from clients: what both databases can store, and the length of client fields."""

from __future__ import annotations

from tambuli.errors import InvalidField

MAX_CLIENT_TEXT = 200


def check_storable_text(name: str, value: str) -> str:
    """Text both databases can store: no NUL (PostgreSQL refuses it), no lone surrogates."""
    if "\x00" in value:
        raise InvalidField(f"{name} must not contain NUL characters", {"field": name})
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidField(f"{name} is not valid Unicode text", {"field": name}) from exc
    return value


def check_client_text(name: str, value: str | None, limit: int = MAX_CLIENT_TEXT) -> str:
    """A client's free-text field (clientRef, clientDedup): at most `limit` characters."""
    if value is None:
        return ""
    if len(value) > limit:
        raise InvalidField(f"{name} is longer than {limit} characters", {"field": name})
    return check_storable_text(name, value)
