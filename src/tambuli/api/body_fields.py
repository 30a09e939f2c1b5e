"""Request-body fields no route knows: ignored, as engageSPARK ignores them, and logged.

The spec's request schemas allow extra properties and real clients send some (`type`,
`email`, `contactType`, `currency`), so a body's unknown fields never refuse a request; the
request structs leave them out when they decode. Every place that decodes a JSON body (the
routes through `LenientRequest`, the send lane, the legacy subscription route) names them at
debug level through `log_unknown_fields`, so an operator can see what a client sent in vain.
Unknown query parameters are ignored the same way.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

import msgspec
from litestar import Request
from litestar.types import Empty

log = logging.getLogger("tambuli.api")


def find_unknown_fields(raw: object, body_type: Any, where: str = "") -> list[str]:
    """The names in a decoded JSON body that `body_type` (a request struct) does not know,
    with their paths (`contact.email`, `steps[0].colour`), in the order given."""
    return _find_unknown(raw, _type_info(body_type), where)


def log_unknown_fields(raw: object, body_type: Any, route: str, where: str = "") -> None:
    """Log at debug level the fields of a body that its route ignores (nothing when none)."""
    if not log.isEnabledFor(logging.DEBUG):
        return
    unknown = find_unknown_fields(raw, body_type, where)
    if unknown:
        log.debug(
            "%s ignored unknown request fields: %s",
            route,
            ", ".join(unknown),
            extra={"route": route, "ignored_fields": unknown},
        )


class LenientRequest(Request[Any, Any, Any]):
    """The routes' request: its JSON body, once decoded, has its unknown fields logged."""

    async def json(self) -> Any:
        """The decoded JSON body (decoded once; the route's data comes from it)."""
        first = self._connection_state.json is Empty
        value = await super().json()
        if first and log.isEnabledFor(logging.DEBUG):
            field = self.route_handler.parsed_data_field
            if field is not None:
                log_unknown_fields(value, field.annotation, self.url.path)
        return value


@cache
def _type_info(body_type: Any) -> msgspec.inspect.Type:
    return msgspec.inspect.type_info(body_type)


def _find_unknown(raw: object, info: msgspec.inspect.Type, where: str) -> list[str]:
    if isinstance(info, msgspec.inspect.UnionType):
        member = _member_for(raw, info.types)
        return [] if member is None else _find_unknown(raw, member, where)
    if isinstance(info, msgspec.inspect.ListType) and isinstance(raw, list):
        found: list[str] = []
        for index, item in enumerate(raw):
            found += _find_unknown(item, info.item_type, f"{where}[{index}]")
        return found
    if isinstance(info, msgspec.inspect.StructType) and isinstance(raw, dict):
        known = {field.encode_name: field for field in info.fields}
        found = []
        for key, value in raw.items():
            path = f"{where}.{key}" if where else str(key)
            field = known.get(key)
            if field is None:
                found.append(path)
            else:
                found += _find_unknown(value, field.type, path)
        return found
    # Free-form objects (customFields, args, delay) have no unknown names: their own
    # checks read them.
    return []


def _member_for(
    raw: object, members: tuple[msgspec.inspect.Type, ...]
) -> msgspec.inspect.Type | None:
    """The member of a union that a JSON object or array would decode as, if any."""
    for member in members:
        if isinstance(raw, dict) and isinstance(member, msgspec.inspect.StructType):
            return member
        if isinstance(raw, list) and isinstance(member, msgspec.inspect.ListType):
            return member
    return None
