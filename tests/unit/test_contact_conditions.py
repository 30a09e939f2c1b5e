"""Parsing the contact conditions language: shapes, values and the errors a caller sees."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tambuli.contacts.conditions import (
    MAX_CONDITIONS,
    MAX_DEPTH,
    Condition,
    ConditionGroup,
    CustomFieldRef,
    Op,
    custom_field_refs,
    parse_conditions,
    with_custom_field_ids,
)
from tambuli.errors import InvalidConditions


def _parse(raw: Any) -> ConditionGroup | None:
    return parse_conditions(json.dumps(raw))


def _only(raw: Any) -> Condition:
    group = _parse(raw)
    assert group is not None and len(group.items) == 1
    [item] = group.items
    assert isinstance(item, Condition)
    return item


def _refused(raw: Any) -> InvalidConditions:
    text = raw if isinstance(raw, str) else json.dumps(raw)
    with pytest.raises(InvalidConditions) as caught:
        parse_conditions(text)
    assert caught.value.error_code == "contact.conditions"
    return caught.value


@pytest.mark.parametrize("text", [None, "", "  ", "null", "[]", "{}", '{"all": []}', '{"any":[]}'])
def test_absent_or_empty_conditions_are_no_filter(text: str | None) -> None:
    assert parse_conditions(text) is None


def test_a_group_a_list_and_a_single_condition_are_all_accepted() -> None:
    condition = {"field": "firstName", "op": "eq", "value": "Ana"}
    expected = ConditionGroup(any_of=False, items=(Condition("firstName", Op.EQ, "Ana", "/all/0"),))
    assert _parse({"all": [condition]}) == expected
    assert _parse([condition]) == expected
    assert _parse(condition) == expected
    any_group = _parse({"any": [condition]})
    assert any_group is not None and any_group.any_of


def test_groups_nest_and_each_condition_knows_where_it_is() -> None:
    group = _parse(
        {"any": [{"field": "groups", "op": "empty"}, {"all": [{"field": "Crop", "op": "empty"}]}]}
    )
    assert group is not None
    inner = group.items[1]
    assert isinstance(inner, ConditionGroup) and not inner.any_of
    assert isinstance(inner.items[0], Condition) and inner.items[0].at == "/any/1/all/0"


def test_built_in_field_names_and_operators_ignore_case() -> None:
    condition = _only({"field": "FIRSTNAME", "op": "StartsWith", "value": "a"})
    assert (condition.field, condition.op) == ("firstName", Op.STARTS_WITH)


def test_other_field_names_are_custom_fields_by_name_or_id() -> None:
    assert _only({"field": "Crop", "op": "empty"}).field == CustomFieldRef("Crop", None)
    assert _only({"field": "120", "op": "empty"}).field == CustomFieldRef(None, 120)
    prefixed = _only({"field": "customFields.language", "op": "empty"})
    assert prefixed.field == CustomFieldRef("language", None)
    assert _only({"field": "customFields.7", "op": "empty"}).field == CustomFieldRef(None, 7)


def test_values_take_the_type_of_their_comparison() -> None:
    assert _only({"field": "Age", "op": "gt", "value": 5}).value == Decimal(5)
    assert _only({"field": "Age", "op": "gt", "value": 2.50}).value == Decimal("2.5")
    assert _only({"field": "Age", "op": "lt", "value": " -3.25 "}).value == Decimal("-3.25")
    assert _only({"field": "Visit", "op": "gte", "value": "2026-02-28"}).value == date(2026, 2, 28)
    assert _only({"field": "Age", "op": "eq", "value": 34}).value == "34"
    assert _only({"field": "fullPhoneNumber", "op": "eq", "value": "+6391"}).value == "6391"
    assert _only({"field": "groups", "op": "contains", "value": "12"}).value == 12
    assert _only({"field": "createdAt", "op": "eq", "value": "2026-01-02"}).value == date(
        2026, 1, 2
    )
    moment = _only({"field": "createdAt", "op": "lt", "value": "2026-01-02T10:00:00+08:00"}).value
    assert moment == datetime(2026, 1, 2, 2, 0, tzinfo=UTC)
    naive = _only({"field": "updatedAt", "op": "gt", "value": "2026-01-02T10:00:00"}).value
    assert naive == datetime(2026, 1, 2, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "at", "words"),
    [
        ("{not json", "", "not valid JSON"),
        ('{"field": "Age", "op": "gt", "value": NaN}', "", "not valid JSON"),
        ("42", "", "expected an object"),
        ({"all": [1]}, "/all/0", "expected an object"),
        ({"every": []}, "", '"all" or "any"'),
        ({"all": [], "any": []}, "", '"all" or "any"'),
        ({"all": {}}, "/all", "a list"),
        ({"field": "firstName", "op": "like", "value": "a"}, "/all/0/op", "not an operator"),
        ({"field": "firstName", "value": "a"}, "/all/0/op", "not an operator"),
        ({"field": "", "op": "empty"}, "/all/0/field", "field must be"),
        ({"field": 7, "op": "empty"}, "/all/0/field", "field must be"),
        ({"field": "customFields.", "op": "empty"}, "/all/0/field", "needs a custom field"),
        ({"field": "0", "op": "empty"}, "/all/0/field", "not a custom field ID"),
        ({"field": "firstName", "op": "eq", "value": "a", "x": 1}, "/all/0", "unknown key"),
        ({"field": "firstName", "op": "eq"}, "/all/0/value", "needs a value"),
        ({"field": "firstName", "op": "eq", "value": ["a"]}, "/all/0/value", "expected text"),
        ({"field": "firstName", "op": "eq", "value": True}, "/all/0/value", "expected text"),
        ({"field": "firstName", "op": "eq", "value": "a\x00"}, "/all/0/value", "NUL"),
        ({"field": "firstName", "op": "eq", "value": "a" * 1001}, "/all/0/value", "longer"),
        ({"field": "firstName", "op": "empty", "value": "a"}, "/all/0/value", "takes no value"),
        ({"field": "Age", "op": "gt", "value": "ten"}, "/all/0/value", "a number or a date"),
        ({"field": "Age", "op": "gt", "value": "1e5"}, "/all/0/value", "a number or a date"),
        ({"field": "Age", "op": "gt", "value": 1e300}, "/all/0/value", "digits"),
        ({"field": "Age", "op": "gt", "value": "2026-02-30"}, "/all/0/value", "calendar date"),
        ({"field": "createdAt", "op": "contains", "value": "x"}, "/all/0/op", "does not apply"),
        ({"field": "createdAt", "op": "gt", "value": "yesterday"}, "/all/0/value", "date-time"),
        ({"field": "createdAt", "op": "gt", "value": 5}, "/all/0/value", "date-time"),
        ({"field": "groups", "op": "eq", "value": 5}, "/all/0/op", "does not apply"),
        ({"field": "groups", "op": "contains", "value": "x"}, "/all/0/value", "not a group ID"),
        ({"field": "groups", "op": "contains", "value": 0}, "/all/0/value", "not a group ID"),
    ],
)
def test_a_bad_filter_is_refused_naming_where_and_why(raw: Any, at: str, words: str) -> None:
    error = _refused(raw)
    assert error.context == {"field": "conditions", "at": at}
    assert words in error.message
    assert error.message.startswith(f"conditions {at or '/'}: ")


def test_groups_nest_at_most_the_limit() -> None:
    condition: Any = {"field": "groups", "op": "empty"}
    for _ in range(MAX_DEPTH):
        condition = {"all": [condition]}
    assert _parse(condition) is not None
    assert "nest" in _refused({"all": [condition]}).message


def test_a_filter_holds_at_most_the_limit_of_conditions() -> None:
    condition = {"field": "groups", "op": "empty"}
    assert _parse([condition] * MAX_CONDITIONS) is not None
    assert "more than" in _refused([condition] * (MAX_CONDITIONS + 1)).message


def test_json_nested_thousands_deep_is_refused_not_a_crash() -> None:
    assert "nest" in _refused("[" * 9000 + "]" * 9000).message
    assert "nest" in _refused('{"all":[' * 200 + "]}" * 200).message


def test_custom_fields_are_listed_and_replaced_by_their_ids() -> None:
    group = _parse(
        {"any": [{"field": "Crop", "op": "empty"}, {"all": [{"field": "9", "op": "empty"}]}]}
    )
    assert group is not None
    refs = list(custom_field_refs(group))
    assert refs == [
        (CustomFieldRef("Crop", None), "/any/0/field"),
        (CustomFieldRef(None, 9), "/any/1/all/0/field"),
    ]
    resolved = with_custom_field_ids(group, {refs[0][0]: 120, refs[1][0]: 9})
    assert [ref for ref, _ in custom_field_refs(resolved)] == [
        CustomFieldRef(None, 120),
        CustomFieldRef(None, 9),
    ]


_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=12) | st.floats()
_condition_like = st.fixed_dictionaries(
    {},
    optional={
        "field": st.sampled_from(["firstName", "createdAt", "groups", "Crop", "12", ""]) | _scalars,
        "op": st.sampled_from([op.value for op in Op]) | _scalars,
        "value": _scalars
        | st.sampled_from(["2026-01-01", "2026-01-01T00:00:00Z", "5", "-1.5", "+63917"])
        | st.lists(_scalars, max_size=2),
    },
)
_filter_like = st.recursive(
    _condition_like,
    lambda inner: (
        st.builds(
            lambda mode, items: {mode: items},
            st.sampled_from(["all", "any"]),
            st.lists(inner, max_size=3),
        )
        | st.lists(inner, max_size=3)
    ),
    max_leaves=8,
)


@given(_filter_like)
def test_any_json_either_parses_or_is_refused_as_bad_conditions(raw: Any) -> None:
    try:
        parse_conditions(json.dumps(raw))
    except InvalidConditions as error:
        assert error.context is not None and error.context["field"] == "conditions"
