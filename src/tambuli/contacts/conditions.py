"""The contact conditions language: JSON filters over contact fields and custom fields.

Pure parsing and validation; the SQL lives in contacts/matching.py and the language is documented
in docs/contacts.md. A filter is a group, `{"all": [...]}` or `{"any": [...]}`, of conditions
`{"field": ..., "op": ..., "value": ...}` and nested groups.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from tambuli.errors import InvalidConditions

# Limits keep one request's SQL small: a few levels are all a person builds in a form.
MAX_CONDITIONS_LENGTH = 20_000
MAX_DEPTH = 5
MAX_CONDITIONS = 100
MAX_VALUE_LENGTH = 1000
# Numbers beyond these would overflow PostgreSQL's numeric as a bound parameter.
MAX_NUMBER_DIGITS = 100
MAX_NUMBER_EXPONENT = 100
CUSTOM_FIELD_PREFIX = "customFields."

_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class Op(StrEnum):
    """What a condition asks of a field."""

    # The text equals the value, ignoring case; a time is in the day or is the instant.
    EQ = "eq"
    # The opposite of eq.
    NE = "ne"
    # The text holds the value, ignoring case; the contact is in the group.
    CONTAINS = "contains"
    # The opposite of contains.
    NOT_CONTAINS = "notcontains"
    # The text begins with the value, ignoring case.
    STARTS_WITH = "startswith"
    # The text is empty or unset; the contact is in no group.
    EMPTY = "empty"
    # The opposite of empty.
    NOT_EMPTY = "notempty"
    # The number, date or time is after the value.
    GT = "gt"
    # ... after or equal.
    GTE = "gte"
    # ... before.
    LT = "lt"
    # ... before or equal.
    LTE = "lte"


class FieldKind(StrEnum):
    """How a field's values compare."""

    # Free text: names, language, number, carrier and every custom field.
    TEXT = "text"
    # A stored instant: createdAt, updatedAt, lastUseAt.
    TIME = "time"
    # The contact's group memberships.
    GROUPS = "groups"


BUILTIN_FIELDS: dict[str, FieldKind] = {
    "firstName": FieldKind.TEXT,
    "lastName": FieldKind.TEXT,
    "language": FieldKind.TEXT,
    "fullPhoneNumber": FieldKind.TEXT,
    "carrier": FieldKind.TEXT,
    "createdAt": FieldKind.TIME,
    "updatedAt": FieldKind.TIME,
    "lastUseAt": FieldKind.TIME,
    "groups": FieldKind.GROUPS,
}
_BUILTIN_BY_KEY = {name.casefold(): name for name in BUILTIN_FIELDS}

_OPS_BY_KIND: dict[FieldKind, tuple[Op, ...]] = {
    FieldKind.TEXT: tuple(Op),
    FieldKind.TIME: (Op.EQ, Op.NE, Op.GT, Op.GTE, Op.LT, Op.LTE),
    FieldKind.GROUPS: (Op.CONTAINS, Op.NOT_CONTAINS, Op.EMPTY, Op.NOT_EMPTY),
}
_ORDER_OPS = frozenset({Op.GT, Op.GTE, Op.LT, Op.LTE})
_NO_VALUE_OPS = frozenset({Op.EMPTY, Op.NOT_EMPTY})


@dataclass(frozen=True)
class CustomFieldRef:
    """A custom field named in a condition: by ID, or by name until the service finds its ID."""

    name: str | None
    field_id: int | None


# A condition's value: text, a number, a calendar day, an aware UTC instant, a group ID, or
# None for empty/notempty.
ConditionValue = str | Decimal | date | datetime | int | None


@dataclass(frozen=True)
class Condition:
    """One test of one field; `at` is its JSON pointer in the request, for error messages."""

    field: str | CustomFieldRef
    op: Op
    value: ConditionValue
    at: str


@dataclass(frozen=True)
class ConditionGroup:
    """Conditions and groups that must all hold (`any_of` False) or of which one must hold."""

    any_of: bool
    items: tuple[Condition | ConditionGroup, ...]


def _refuse(at: str, message: str) -> InvalidConditions:
    context = {"field": "conditions", "at": at}
    return InvalidConditions(f"conditions {at or '/'}: {message}", context)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def parse_conditions(text: str | None) -> ConditionGroup | None:
    """The filter in a `conditions` JSON text; None when it is absent or has no conditions."""
    if text is None or not text.strip():
        return None
    if len(text) > MAX_CONDITIONS_LENGTH:
        raise _refuse("", f"longer than {MAX_CONDITIONS_LENGTH} characters")
    try:
        raw = json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except RecursionError:
        raise _refuse("", f"groups nest at most {MAX_DEPTH} deep") from None
    except ValueError as exc:
        raise _refuse("", f"not valid JSON ({exc})") from None
    group = read_conditions(raw)
    return group if group.items else None


def read_conditions(raw: object) -> ConditionGroup:
    """The filter in already-decoded JSON: a group, a list (all of it), one condition or null."""
    if raw is None or raw == {}:
        return ConditionGroup(any_of=False, items=())
    if isinstance(raw, list):
        raw = {"all": raw}
    elif isinstance(raw, dict) and "field" in raw:
        raw = {"all": [raw]}
    counter = [0]
    node = _read_node(raw, "", 1, counter)
    if isinstance(node, Condition):
        return ConditionGroup(any_of=False, items=(node,))
    return node


def _read_node(raw: object, at: str, depth: int, counter: list[int]) -> Condition | ConditionGroup:
    if not isinstance(raw, dict):
        raise _refuse(at, 'expected an object: {"all": [...]}, {"any": [...]} or a condition')
    if "field" in raw or "op" in raw:
        counter[0] += 1
        if counter[0] > MAX_CONDITIONS:
            raise _refuse(at, f"more than {MAX_CONDITIONS} conditions")
        return _read_condition(raw, at)
    if len(raw) != 1 or next(iter(raw)) not in ("all", "any"):
        keys = ", ".join(sorted(str(k) for k in raw)) or "none"
        raise _refuse(at, f'a group has exactly one key, "all" or "any" (got: {keys})')
    [(mode, items)] = raw.items()
    if not isinstance(items, list):
        raise _refuse(f"{at}/{mode}", "expected a list of conditions")
    if depth > MAX_DEPTH:
        raise _refuse(at, f"groups nest at most {MAX_DEPTH} deep")
    return ConditionGroup(
        any_of=mode == "any",
        items=tuple(
            _read_node(item, f"{at}/{mode}/{n}", depth + 1, counter) for n, item in enumerate(items)
        ),
    )


def _read_condition(raw: dict[str, Any], at: str) -> Condition:
    unknown = sorted(str(k) for k in raw if k not in ("field", "op", "value"))
    if unknown:
        raise _refuse(at, f"unknown key {unknown[0]!r}; a condition has field, op and value")
    field, kind = _read_field(raw.get("field"), f"{at}/field")
    op_text = raw.get("op")
    allowed = _OPS_BY_KIND[kind]
    names = ", ".join(allowed)
    if not isinstance(op_text, str) or op_text.strip().lower() not in Op.__members__.values():
        raise _refuse(f"{at}/op", f"{op_text!r} is not an operator; use one of {names}")
    op = Op(op_text.strip().lower())
    if op not in allowed:
        shown = field if isinstance(field, str) else "a custom field"
        raise _refuse(f"{at}/op", f"{op} does not apply to {shown}; use one of {names}")
    value = _read_value(kind, field, op, raw.get("value"), f"{at}/value")
    return Condition(field=field, op=op, value=value, at=at)


def _read_field(raw: object, at: str) -> tuple[str | CustomFieldRef, FieldKind]:
    if not isinstance(raw, str) or not raw.strip():
        raise _refuse(at, "field must be a field name, a custom field name or a custom field ID")
    text = raw.strip()
    if "\x00" in text or len(text) > MAX_VALUE_LENGTH:
        raise _refuse(at, "field is not a field name")
    if text.startswith(CUSTOM_FIELD_PREFIX):
        text = text.removeprefix(CUSTOM_FIELD_PREFIX).strip()
        if not text:
            raise _refuse(at, f"{CUSTOM_FIELD_PREFIX} needs a custom field name or ID after it")
    elif text.casefold() in _BUILTIN_BY_KEY:
        name = _BUILTIN_BY_KEY[text.casefold()]
        return name, BUILTIN_FIELDS[name]
    if text.isascii() and text.isdigit():
        number = int(text)
        if not 0 < number < 2**63:
            raise _refuse(at, f"{text} is not a custom field ID")
        return CustomFieldRef(name=None, field_id=number), FieldKind.TEXT
    return CustomFieldRef(name=text, field_id=None), FieldKind.TEXT


def _read_value(
    kind: FieldKind, field: str | CustomFieldRef, op: Op, raw: object, at: str
) -> ConditionValue:
    if op in _NO_VALUE_OPS:
        if raw is not None:
            raise _refuse(at, f"{op} takes no value")
        return None
    if raw is None:
        raise _refuse(at, f"{op} needs a value")
    if kind is FieldKind.GROUPS:
        return _read_group_id(raw, at)
    if kind is FieldKind.TIME:
        return _read_time(raw, at)
    if op in _ORDER_OPS:
        return _read_order_value(raw, at)
    text = _read_text(raw, at)
    # Numbers are stored as digits; a "+" typed before one is not part of it.
    return text.removeprefix("+") if field == "fullPhoneNumber" else text


def _read_text(raw: object, at: str) -> str:
    if isinstance(raw, bool) or not isinstance(raw, str | int | Decimal):
        raise _refuse(at, "expected text")
    text = str(raw)
    if "\x00" in text:
        raise _refuse(at, "must not contain NUL characters")
    if len(text) > MAX_VALUE_LENGTH:
        raise _refuse(at, f"longer than {MAX_VALUE_LENGTH} characters")
    return text


def _read_group_id(raw: object, at: str) -> int:
    text = str(raw).strip() if isinstance(raw, str | int) and not isinstance(raw, bool) else ""
    if not text.isascii() or not text.isdigit() or not 0 < int(text) < 2**63:
        raise _refuse(at, f"{raw!r} is not a group ID")
    return int(text)


def _read_time(raw: object, at: str) -> date | datetime:
    """A calendar day (YYYY-MM-DD) or an instant (RFC 3339; without an offset, UTC)."""
    problem = "expected a date (YYYY-MM-DD) or a date-time (RFC 3339)"
    if not isinstance(raw, str):
        raise _refuse(at, problem)
    text = raw.strip()
    try:
        if _DAY.fullmatch(text):
            return date.fromisoformat(text)
        moment = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise _refuse(at, f"{raw!r}: {problem}") from None


def _read_order_value(raw: object, at: str) -> Decimal | date:
    """A number, or a calendar day: what gt/gte/lt/lte compare text fields with."""
    problem = "expected a number or a date (YYYY-MM-DD)"
    if isinstance(raw, bool):
        raise _refuse(at, problem)
    if isinstance(raw, int | Decimal):
        return _checked_number(Decimal(raw), at)
    if not isinstance(raw, str):
        raise _refuse(at, problem)
    text = raw.strip()
    if _NUMBER.fullmatch(text):
        return _checked_number(Decimal(text), at)
    if _DAY.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise _refuse(at, f"{raw!r} is not a calendar date") from None
    raise _refuse(at, f"{raw!r}: {problem}")


def _checked_number(number: Decimal, at: str) -> Decimal:
    if (
        not number.is_finite()
        or len(number.as_tuple().digits) > MAX_NUMBER_DIGITS
        or (number and abs(number.adjusted()) > MAX_NUMBER_EXPONENT)
    ):
        raise _refuse(at, f"numbers have at most {MAX_NUMBER_DIGITS} digits and 1e±100 in size")
    return number


def custom_field_refs(group: ConditionGroup) -> Iterator[tuple[CustomFieldRef, str]]:
    """Each custom field the filter names, with where it is named."""
    for item in group.items:
        if isinstance(item, ConditionGroup):
            yield from custom_field_refs(item)
        elif isinstance(item.field, CustomFieldRef):
            yield item.field, f"{item.at}/field"


def with_custom_field_ids(group: ConditionGroup, ids: dict[CustomFieldRef, int]) -> ConditionGroup:
    """The filter with every custom field named by its ID, from `ids`."""
    items: list[Condition | ConditionGroup] = []
    for item in group.items:
        if isinstance(item, ConditionGroup):
            items.append(with_custom_field_ids(item, ids))
        elif isinstance(item.field, CustomFieldRef):
            items.append(replace(item, field=CustomFieldRef(name=None, field_id=ids[item.field])))
        else:
            items.append(item)
    return replace(group, items=tuple(items))


def unknown_custom_field(ref: CustomFieldRef, at: str) -> InvalidConditions:
    """The error for a custom field that the organization does not have."""
    named = f"named {ref.name!r}" if ref.name is not None else f"with ID {ref.field_id}"
    return _refuse(at, f"there is no custom field {named}")
