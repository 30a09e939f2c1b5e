"""SQL for the contacts that match a conditions filter (contacts/conditions.py), on both databases.

Custom field values are free text, so numeric and date comparisons first check the text's shape
in SQL (a regular expression on PostgreSQL, GLOB on SQLite) and only then cast it: a value that
is not a number or a date does not match, and no value can make the query fail.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Numeric,
    String,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
)

from tambuli.contacts.conditions import Condition, ConditionGroup, CustomFieldRef, Op
from tambuli.db.schema import contact_field_values, contact_group_members, contacts
from tambuli.db.text_search import escape_like

_TEXT_COLUMNS = {
    "firstName": contacts.c.first_name,
    "lastName": contacts.c.last_name,
    "language": contacts.c.language,
    "fullPhoneNumber": contacts.c.phone,
    "carrier": contacts.c.carrier,
}
_TIME_COLUMNS = {
    "createdAt": contacts.c.created_at,
    "updatedAt": contacts.c.updated_at,
    "lastUseAt": contacts.c.last_use_at,
}
# The same shapes on both databases: an optional sign, digits with at most one point.
_PG_NUMBER = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)$"
# YYYY-MM-DD with a month 01-12 and a day 01-31, alone or before a time.
_PG_DAY = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])([T ]|$)"


def conditions_clause(group: ConditionGroup, dialect: str) -> ColumnElement[bool]:
    """A WHERE clause on `contacts` for a filter whose custom fields are all named by ID."""
    parts = [
        conditions_clause(item, dialect)
        if isinstance(item, ConditionGroup)
        else _condition_clause(item, dialect)
        for item in group.items
    ]
    if not parts:
        # An empty group is no condition at all, whether "all" or "any" (docs/contacts.md).
        return true()
    if len(parts) == 1:
        return parts[0]
    return or_(*parts) if group.any_of else and_(*parts)


def _condition_clause(condition: Condition, dialect: str) -> ColumnElement[bool]:
    field = condition.field
    if field == "groups":
        return _groups_clause(condition)
    if isinstance(field, str) and field in _TIME_COLUMNS:
        return _time_clause(_TIME_COLUMNS[field], condition.op, condition.value)
    if isinstance(field, CustomFieldRef):
        assert field.field_id is not None, "custom fields are resolved before SQL is built"
        if _needs_a_value(condition.op, condition.value):
            # Only a stored value can match: find the contacts among the field's values (one
            # pass over them) instead of looking the field up for every contact of the
            # organization, which made counting a filter's matches read every contact's row.
            value = contact_field_values.c.value
            return contacts.c.id.in_(
                select(contact_field_values.c.contact_id).where(
                    contact_field_values.c.field_id == field.field_id,
                    _text_clause(value, condition.op, condition.value, dialect),
                )
            )
        stored = (
            select(contact_field_values.c.value)
            .where(
                contact_field_values.c.contact_id == contacts.c.id,
                contact_field_values.c.field_id == field.field_id,
            )
            .scalar_subquery()
        )
        # No row is how an empty custom field is stored.
        text: ColumnElement[Any] = func.coalesce(stored, "")
    else:
        text = _TEXT_COLUMNS[field]
    return _text_clause(text, condition.op, condition.value, dialect)


def _needs_a_value(op: Op, value: object) -> bool:
    """Whether the condition is false for an empty field (stored as no row at all)."""
    if op in (Op.EMPTY, Op.NE, Op.NOT_CONTAINS):
        return False
    if isinstance(value, str):
        # "" equals, starts and is contained in an empty field.
        return value != ""
    return True  # an empty field is neither a number nor a date


def _text_clause(
    text: ColumnElement[Any], op: Op, value: object, dialect: str
) -> ColumnElement[bool]:
    if op is Op.EMPTY:
        return text == ""
    if op is Op.NOT_EMPTY:
        return text != ""
    if isinstance(value, Decimal):
        # Surrounding spaces are not part of a number or a date.
        number = _number_of(func.trim(text), dialect)
        return _compare(number, op, _number_param(value, dialect))
    if isinstance(value, date):
        trimmed = func.trim(text)
        day = func.substr(trimmed, 1, 10)
        return and_(_is_day(trimmed, dialect), _compare(day, op, value.isoformat()))
    assert isinstance(value, str)
    # Lower-cased on both sides by the same database, so text always equals itself.
    folded = func.lower(text)
    wanted = func.lower(literal(value, String()))
    if op is Op.EQ:
        return folded == wanted
    if op is Op.NE:
        return folded != wanted
    if op is Op.STARTS_WITH:
        return folded.like(func.lower(literal(f"{escape_like(value)}%")), escape="\\")
    found = folded.like(func.lower(literal(f"%{escape_like(value)}%")), escape="\\")
    return found if op is Op.CONTAINS else not_(found)


def _compare(left: ColumnElement[Any], op: Op, right: Any) -> ColumnElement[bool]:
    compared: ColumnElement[bool]
    if op is Op.GT:
        compared = left > right
    elif op is Op.GTE:
        compared = left >= right
    elif op is Op.LT:
        compared = left < right
    else:
        assert op is Op.LTE
        compared = left <= right
    return compared


def _number_of(text: ColumnElement[Any], dialect: str) -> ColumnElement[Any]:
    """The text as a number, or NULL (which matches nothing) when it is not one."""
    if dialect == "postgresql":
        # CASE, not AND: PostgreSQL may evaluate AND's operands in any order.
        return case(
            (text.op("~", is_comparison=True)(_PG_NUMBER), cast(text, Numeric())), else_=None
        )
    is_number = and_(
        text.op("GLOB", is_comparison=True)("*[0-9]*"),
        not_(text.op("GLOB", is_comparison=True)("*[^0-9.+-]*")),
        not_(func.substr(text, 2).op("GLOB", is_comparison=True)("*[+-]*")),
        not_(text.op("GLOB", is_comparison=True)("*.*.*")),
    )
    return case((is_number, cast(text, Float())), else_=None)


def _number_param(value: Decimal, dialect: str) -> ColumnElement[Any]:
    if dialect == "postgresql":
        return literal(value, Numeric())
    # SQLite compares REALs; its driver takes no Decimal.
    return literal(float(value), Float())


def _is_day(text: ColumnElement[Any], dialect: str) -> ColumnElement[bool]:
    """Whether the text starts with a YYYY-MM-DD date (months 01-12, days 01-31)."""
    if dialect == "postgresql":
        return text.op("~", is_comparison=True)(_PG_DAY)
    day = func.substr(text, 1, 10)
    return and_(
        day.op("GLOB", is_comparison=True)("[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]"),
        func.substr(text, 6, 2).between("01", "12"),
        func.substr(text, 9, 2).between("01", "31"),
        or_(func.length(text) == 10, func.substr(text, 11, 1).in_(["T", " "])),
    )


def _time_clause(column: ColumnElement[Any], op: Op, value: object) -> ColumnElement[bool]:
    if isinstance(value, datetime):
        if op is Op.EQ:
            return column == value
        if op is Op.NE:
            return column != value
        return _compare(column, op, value)
    assert isinstance(value, date)
    # A day is the UTC day [start, end); the last day of the calendar has no end.
    start = datetime.combine(value, time(), UTC)
    end = start + timedelta(days=1) if value < date.max else None
    after_start = column >= start
    before_end: ColumnElement[bool] = column < end if end is not None else true()
    if op is Op.EQ:
        return and_(after_start, before_end)
    if op is Op.NE:
        return not_(and_(after_start, before_end))
    if op is Op.GT:
        return column >= end if end is not None else false()
    if op is Op.GTE:
        return after_start
    if op is Op.LT:
        return column < start
    return before_end


def _groups_clause(condition: Condition) -> ColumnElement[bool]:
    memberships = select(contact_group_members.c.group_id).where(
        contact_group_members.c.contact_id == contacts.c.id
    )
    if condition.op in (Op.EMPTY, Op.NOT_EMPTY):
        any_group = exists(memberships)
        return any_group if condition.op is Op.NOT_EMPTY else not_(any_group)
    member = exists(memberships.where(contact_group_members.c.group_id == condition.value))
    return member if condition.op is Op.CONTAINS else not_(member)
