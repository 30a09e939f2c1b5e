"""The contacts list's filter as the console's query string carries it: a search, a group, and
conditions either built from field/operator/value rows or typed as the JSON of the conditions
language (docs/contacts.md), which the contacts service checks."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from tambuli.contacts.conditions import BUILTIN_FIELDS, CUSTOM_FIELD_PREFIX, Op, parse_conditions
from tambuli.contacts.models import ContactFilter
from tambuli.errors import InvalidField, TambuliError

# Rows the builder shows: the filled ones and at least one empty one, at most this many.
MAX_BUILDER_ROWS = 8
OPERATOR_LABELS = {
    Op.EQ: "is",
    Op.NE: "is not",
    Op.CONTAINS: "contains",
    Op.NOT_CONTAINS: "does not contain",
    Op.STARTS_WITH: "starts with",
    Op.EMPTY: "is empty",
    Op.NOT_EMPTY: "is not empty",
    Op.GT: "is after / more than",
    Op.GTE: "is on or after / at least",
    Op.LT: "is before / less than",
    Op.LTE: "is on or before / at most",
}
_NO_VALUE = frozenset({Op.EMPTY.value, Op.NOT_EMPTY.value})


@dataclass(frozen=True)
class BuilderRow:
    """One condition of the form builder."""

    field: str = ""
    op: str = "eq"
    value: str = ""


@dataclass
class FilterForm:
    """What the list's filter form shows and what the query string said."""

    search: str = ""
    group: str = ""
    match: str = "all"
    rows: list[BuilderRow] = field(default_factory=list)
    conditions: str = ""
    error: str = ""

    def query(self, **extra: Any) -> str:
        """The query string that reproduces this filter (conditions as JSON), plus `extra`."""
        pairs: dict[str, Any] = {
            "q": self.search,
            "group": self.group,
            "conditions": self.conditions,
            "use": "advanced",
        }
        pairs.update(extra)
        return urlencode({k: v for k, v in pairs.items() if v not in ("", None)})

    def shown_rows(self) -> list[BuilderRow]:
        """The filled rows and an empty one to add a condition."""
        return [*self.rows, BuilderRow()][:MAX_BUILDER_ROWS]


def field_choices(custom_field_names: list[str]) -> list[tuple[str, str]]:
    """(value, label) of every field a condition may test."""
    builtin = [(name, name) for name in BUILTIN_FIELDS]
    custom = [(CUSTOM_FIELD_PREFIX + n, f"custom field: {n}") for n in custom_field_names]
    return builtin + custom


def _builder_json(match: str, rows: list[BuilderRow]) -> str:
    items: list[dict[str, Any]] = []
    for row in rows:
        item: dict[str, Any] = {"field": row.field, "op": row.op}
        if row.op not in _NO_VALUE:
            value: Any = row.value
            if row.field == "groups" and row.value.strip().isdigit():
                value = int(row.value.strip())
            item["value"] = value
        items.append(item)
    return json.dumps({match: items}, ensure_ascii=False) if items else ""


def _rows_of(text: str, known: set[str] | None) -> tuple[str, list[BuilderRow]]:
    """The builder rows of a JSON filter that is one flat group of conditions on `known`
    fields; none for anything else (the JSON text then stands alone)."""
    try:
        raw = json.loads(text)
    except ValueError:
        return "all", []
    if isinstance(raw, dict) and "field" in raw:
        raw = {"all": [raw]}
    if not isinstance(raw, dict) or len(raw) != 1:
        return "all", []
    match, items = next(iter(raw.items()))
    if match not in ("all", "any") or not isinstance(items, list):
        return "all", []
    rows = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("field"), str):
            return "all", []
        if known is not None and item["field"] not in known:
            return "all", []
        value = item.get("value", "")
        rows.append(BuilderRow(item["field"], str(item.get("op", "eq")), str(value)))
    return match, rows


def read_filter(params: Any, known: set[str] | None = None) -> tuple[FilterForm, ContactFilter]:
    """The filter form and the service's filter of a query string; FilterRefused with the
    service's message when the service refuses the filter."""
    form = FilterForm(
        search=(params.get("q") or "").strip(),
        group=(params.get("group") or "").strip(),
        match="any" if params.get("match") == "any" else "all",
    )
    if params.get("use") == "advanced":
        form.conditions = (params.get("conditions") or "").strip()
        form.match, form.rows = _rows_of(form.conditions, known)
    else:
        fields, ops, values = (params.getall(k, []) for k in ("field", "op", "value"))
        form.rows = [
            BuilderRow(f, o, v)
            for f, o, v in zip(fields, ops, values, strict=False)
            if f.strip() and (v.strip() or o in _NO_VALUE)
        ]
        form.conditions = _builder_json(form.match, form.rows)
    try:
        return form, _service_filter(form)
    except TambuliError as refused:
        raise FilterRefused(form, refused.message) from None


def _service_filter(form: FilterForm) -> ContactFilter:
    if "\x00" in form.search:
        raise InvalidField("search must not contain NUL characters", {"field": "search"})
    group_id = None
    if form.group:
        if not form.group.isdigit() or len(form.group) > 18:
            raise InvalidField("Choose a group from the list", {"field": "group"})
        group_id = int(form.group)
    return ContactFilter(
        search=form.search or None,
        group_id=group_id,
        conditions=parse_conditions(form.conditions),
    )


class FilterRefused(Exception):
    """A filter the service refused, with the form to show again."""

    def __init__(self, form: FilterForm, message: str) -> None:
        super().__init__(message)
        self.form = form
        form.error = message
