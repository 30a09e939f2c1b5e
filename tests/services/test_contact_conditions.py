"""The conditions filter on a real database: every operator on contact and custom fields."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from tambuli.clock import FakeClock
from tambuli.contacts import selection
from tambuli.contacts import service as contacts
from tambuli.contacts.conditions import parse_conditions
from tambuli.contacts.models import ContactFilter, ContactInput
from tambuli.contacts.phones import normalise_full_number
from tambuli.db.engine import Database
from tambuli.errors import InvalidConditions
from tests.conftest import OrgFactory


@dataclass
class World:
    """An organization with five contacts whose fields differ in known ways."""

    org_id: int
    ids: dict[str, int]
    farmers: int
    nurses: int
    age: int
    visit: int


async def _make_world(db: Database, clock: FakeClock, make_org: OrgFactory) -> World:
    org = await make_org()
    farmers = (await contacts.create_group(db, clock, org.org_id, "Farmers")).id
    nurses = (await contacts.create_group(db, clock, org.org_id, "Nurses")).id
    age = (await contacts.create_custom_field(db, clock, org.org_id, "Age")).id
    visit = (await contacts.create_custom_field(db, clock, org.org_id, "Last visit")).id
    crop = (await contacts.create_custom_field(db, clock, org.org_id, "Crop")).id
    people: list[tuple[str, str, ContactInput]] = [
        (
            "ana",
            "639171234567",
            ContactInput(
                first_name="Ana",
                last_name="Santos",
                language="Tagalog",
                groups=[farmers],
                custom_fields={age: "34", visit: "2026-03-01", crop: "Rice"},
            ),
        ),
        (
            "ben",
            "639181234567",
            ContactInput(
                first_name="Ben",
                last_name="Cruz",
                language="English",
                groups=[farmers, nurses],
                custom_fields={age: "7.5", visit: "2026-01-15T10:00:00Z", crop: "corn 100%"},
            ),
        ),
        (
            "carla",
            "639171111111",
            ContactInput(
                first_name="Carla",
                last_name="Ana-Reyes",
                language="tagalog",
                groups=[nurses],
                custom_fields={age: "unknown", visit: "soon", crop: "rice_paddy"},
            ),
        ),
        (
            "dan",
            "6591234567",
            ContactInput(
                first_name="Dan",
                custom_fields={age: "-2", visit: "2026-13-01", crop: ""},
            ),
        ),
        ("eve", "639991234567", ContactInput(first_name="Eve", custom_fields={age: "1e3"})),
    ]
    ids = {}
    for day, (name, number, given) in enumerate(people, start=1):
        # One contact a day from 1 January 2026, at 08:00 UTC.
        clock.set(datetime(2026, 1, day, 8, 0, tzinfo=UTC))
        created = await contacts.create_contact(
            db, clock, org.org_id, normalise_full_number(number), given
        )
        ids[name] = created.id
    return World(org.org_id, ids, farmers, nurses, age, visit)


@pytest.fixture
async def world(db: Database, clock: FakeClock, make_org: OrgFactory) -> World:
    """Five known contacts in an organization of the test's own."""
    return await _make_world(db, clock, make_org)


async def _names(db: Database, world: World, conditions: Any) -> list[str]:
    """Who the filter lists, checked against the batch walk that bulk actions use."""
    parsed = parse_conditions(json.dumps(conditions))
    page = await contacts.list_contacts(
        db, world.org_id, ContactFilter(conditions=parsed), page=1, size=100
    )
    listed = [c.id for c in page.contacts]
    walked = await selection.find_contact_ids_matching(db, world.org_id, parsed)
    assert walked == listed
    assert page.total == len(listed)
    by_id = {v: k for k, v in world.ids.items()}
    return [by_id[i] for i in listed]


def _one(field: Any, op: str, value: Any = None) -> dict[str, Any]:
    condition = {"field": field, "op": op}
    if value is not None:
        condition["value"] = value
    return condition


async def test_text_operators_on_contact_fields_ignore_case(db: Database, world: World) -> None:
    cases: list[tuple[dict[str, Any], list[str]]] = [
        (_one("firstName", "eq", "ana"), ["ana"]),
        (_one("language", "eq", "TAGALOG"), ["ana", "carla"]),
        (_one("language", "ne", "tagalog"), ["ben", "dan", "eve"]),
        (_one("lastName", "contains", "ana"), ["carla"]),
        (_one("lastName", "notcontains", "a"), ["ben", "dan", "eve"]),
        (_one("lastName", "startswith", "SAN"), ["ana"]),
        (_one("lastName", "empty"), ["dan", "eve"]),
        (_one("lastName", "notempty"), ["ana", "ben", "carla"]),
        (_one("fullPhoneNumber", "startswith", "+63917"), ["ana", "carla"]),
        (_one("fullPhoneNumber", "eq", "6591234567"), ["dan"]),
        (_one("carrier", "eq", "globe"), ["ana", "carla"]),
    ]
    for conditions, expected in cases:
        assert await _names(db, world, conditions) == expected, conditions


async def test_text_operators_on_custom_fields_by_name_or_id(db: Database, world: World) -> None:
    cases: list[tuple[dict[str, Any], list[str]]] = [
        (_one("Crop", "eq", "rice"), ["ana"]),
        (_one("crop", "contains", "RICE"), ["ana", "carla"]),
        (_one("customFields.Crop", "startswith", "rice_"), ["carla"]),
        (_one(str(world.age), "eq", "34"), ["ana"]),
        (_one(f"customFields.{world.age}", "eq", 34), ["ana"]),
        # An unset custom field is empty, and it is not equal to any text.
        (_one("Crop", "empty"), ["dan", "eve"]),
        (_one("Crop", "notempty"), ["ana", "ben", "carla"]),
        (_one("Crop", "ne", "rice"), ["ben", "carla", "dan", "eve"]),
        (_one("Crop", "notcontains", "rice"), ["ben", "dan", "eve"]),
        # An empty value asks about unset fields too: "" equals and is in an empty field.
        (_one("Crop", "eq", ""), ["dan", "eve"]),
        (_one("Crop", "contains", ""), ["ana", "ben", "carla", "dan", "eve"]),
    ]
    for conditions, expected in cases:
        assert await _names(db, world, conditions) == expected, conditions


async def test_like_wildcards_in_a_value_are_plain_text(db: Database, world: World) -> None:
    assert await _names(db, world, _one("Crop", "contains", "%")) == ["ben"]
    assert await _names(db, world, _one("Crop", "contains", "_")) == ["carla"]
    assert await _names(db, world, _one("Crop", "startswith", "_")) == []


async def test_numbers_in_custom_fields_compare_as_numbers_and_other_text_never_matches(
    db: Database, world: World
) -> None:
    # "unknown" and "1e3" are not numbers (the language has no exponents): they match no
    # comparison, and no value makes the query fail.
    cases: list[tuple[dict[str, Any], list[str]]] = [
        (_one("Age", "gt", 10), ["ana"]),
        (_one("Age", "gt", "7.5"), ["ana"]),
        (_one("Age", "gte", 7.5), ["ana", "ben"]),
        (_one("Age", "lt", 8), ["ben", "dan"]),
        (_one("Age", "lte", "-2"), ["dan"]),
        (_one("Age", "lt", -100), []),
        (_one("Age", "gt", -100), ["ana", "ben", "dan"]),
        (_one("Crop", "gt", 0), []),
        (_one("firstName", "gt", 0), []),
    ]
    for conditions, expected in cases:
        assert await _names(db, world, conditions) == expected, conditions


async def test_dates_in_custom_fields_compare_by_day_and_other_text_never_matches(
    db: Database, world: World
) -> None:
    # "soon" and "2026-13-01" are not dates; a time after the day is ignored.
    cases: list[tuple[dict[str, Any], list[str]]] = [
        (_one("Last visit", "gt", "2026-01-15"), ["ana"]),
        (_one("Last visit", "gte", "2026-01-15"), ["ana", "ben"]),
        (_one("Last visit", "lt", "2026-03-01"), ["ben"]),
        (_one("Last visit", "lte", "2026-03-01"), ["ana", "ben"]),
        (_one("Last visit", "gt", "1900-01-01"), ["ana", "ben"]),
        (_one("Age", "gt", "1900-01-01"), []),
    ]
    for conditions, expected in cases:
        assert await _names(db, world, conditions) == expected, conditions


async def test_contact_times_compare_by_utc_day_or_by_instant(db: Database, world: World) -> None:
    # Contacts were created on 1 to 5 January 2026 at 08:00 UTC, one a day.
    cases: list[tuple[dict[str, Any], list[str]]] = [
        (_one("createdAt", "eq", "2026-01-02"), ["ben"]),
        (_one("createdAt", "ne", "2026-01-02"), ["ana", "carla", "dan", "eve"]),
        (_one("createdAt", "gt", "2026-01-03"), ["dan", "eve"]),
        (_one("createdAt", "gte", "2026-01-03"), ["carla", "dan", "eve"]),
        (_one("createdAt", "lt", "2026-01-02"), ["ana"]),
        (_one("createdAt", "lte", "2026-01-02"), ["ana", "ben"]),
        (_one("createdAt", "eq", "2026-01-02T08:00:00Z"), ["ben"]),
        (_one("createdAt", "eq", "2026-01-02T16:00:00+08:00"), ["ben"]),
        (_one("createdAt", "gt", "2026-01-04T07:59:59"), ["dan", "eve"]),
        (_one("createdAt", "lt", "2026-01-01T08:00:00.000001Z"), ["ana"]),
        (_one("updatedAt", "gte", "2026-01-05"), ["eve"]),
        (_one("lastUseAt", "lte", "9999-12-31"), ["ana", "ben", "carla", "dan", "eve"]),
        (_one("createdAt", "gt", "9999-12-31"), []),
    ]
    for conditions, expected in cases:
        assert await _names(db, world, conditions) == expected, conditions


async def test_group_membership(db: Database, world: World) -> None:
    cases: list[tuple[dict[str, Any], list[str]]] = [
        (_one("groups", "contains", world.farmers), ["ana", "ben"]),
        (_one("groups", "contains", str(world.nurses)), ["ben", "carla"]),
        (_one("groups", "notcontains", world.farmers), ["carla", "dan", "eve"]),
        (_one("groups", "empty"), ["dan", "eve"]),
        (_one("groups", "notempty"), ["ana", "ben", "carla"]),
        (_one("groups", "contains", world.nurses + 1000), []),
    ]
    for conditions, expected in cases:
        assert await _names(db, world, conditions) == expected, conditions


async def test_all_and_any_nest(db: Database, world: World) -> None:
    tagalog = _one("language", "eq", "tagalog")
    farmer = _one("groups", "contains", world.farmers)
    cases: list[tuple[Any, list[str]]] = [
        ({"all": [tagalog, farmer]}, ["ana"]),
        ({"any": [tagalog, farmer]}, ["ana", "ben", "carla"]),
        ([tagalog, farmer], ["ana"]),
        (
            {"any": [{"all": [tagalog, farmer]}, {"all": [_one("firstName", "eq", "eve")]}]},
            ["ana", "eve"],
        ),
        ({"all": [{"any": []}, tagalog]}, ["ana", "carla"]),
        ({"any": []}, ["ana", "ben", "carla", "dan", "eve"]),
        ([], ["ana", "ben", "carla", "dan", "eve"]),
        (None, ["ana", "ben", "carla", "dan", "eve"]),
    ]
    for conditions, expected in cases:
        assert await _names(db, world, conditions) == expected, conditions


async def test_conditions_combine_with_the_other_filters_and_paging(
    db: Database, world: World
) -> None:
    wanted = ContactFilter(
        search="a", conditions=parse_conditions('{"field": "groups", "op": "notempty"}')
    )
    first = await contacts.list_contacts(db, world.org_id, wanted, page=1, size=1)
    second = await contacts.list_contacts(db, world.org_id, wanted, page=2, size=1)
    # "a" is in Ana's and Carla's names and Dan's; Dan is in no group.
    assert (first.total, first.org_total) == (2, 5)
    assert [c.id for c in first.contacts + second.contacts] == [
        world.ids["ana"],
        world.ids["carla"],
    ]


async def test_the_batch_walk_continues_after_the_last_id(db: Database, world: World) -> None:
    parsed = parse_conditions('{"field": "firstName", "op": "notempty"}')
    first = await selection.find_contact_ids_matching(db, world.org_id, parsed, limit=2)
    rest = await selection.find_contact_ids_matching(db, world.org_id, parsed, first[-1], 10)
    assert first + rest == sorted(world.ids.values())


@pytest.mark.parametrize("field", ["Colour", "customFields.Colour", "987654321"])
async def test_an_unknown_custom_field_is_refused_by_where_it_is_named(
    db: Database, world: World, field: str
) -> None:
    parsed = parse_conditions(json.dumps({"all": [_one("Crop", "empty"), _one(field, "empty")]}))
    with pytest.raises(InvalidConditions) as caught:
        await contacts.list_contacts(db, world.org_id, ContactFilter(conditions=parsed), 1, 10)
    assert caught.value.context == {"field": "conditions", "at": "/all/1/field"}


async def test_another_organizations_custom_field_is_unknown(
    db: Database, clock: FakeClock, world: World, make_org: OrgFactory
) -> None:
    other = await make_org()
    theirs = await contacts.create_custom_field(db, clock, other.org_id, "Theirs")
    parsed = parse_conditions(json.dumps(_one(str(theirs.id), "empty")))
    with pytest.raises(InvalidConditions):
        await selection.find_contact_ids_matching(db, world.org_id, parsed)
    by_name = parse_conditions(json.dumps(_one("Theirs", "empty")))
    with pytest.raises(InvalidConditions):
        await selection.find_contact_ids_matching(db, world.org_id, by_name)


async def test_the_oldest_custom_field_of_a_name_is_the_one_filtered(
    db: Database, clock: FakeClock, world: World
) -> None:
    ana = await contacts.get_contact(db, world.org_id, world.ids["ana"])
    assert ana.custom_fields[world.age] == "34"
    # "age" in another case names the same (oldest) field.
    assert await _names(db, world, _one("AGE", "eq", "34")) == ["ana"]


ODD_VALUES = [
    "0",
    "+.5",
    "5.",
    ".",
    "+",
    "-",
    "-0",
    "1.2.3",
    "1-2",
    "--1",
    "+-1",
    "1e3",
    "0x10",
    " 7",
    "7 ",
    "١٢",
    "NaN",
    "inf",
    "9" * 400,
    "0." + "1" * 300,
    "2026-02-30",
    "2026-00-10",
    "2026-12-31T23:59:59",
    "2026-12-31 x",
    "2026-12-31x",
    "20260101",
    "2026-1-1",
    "-2026-01-01",
]


def _reference_number(text: str) -> float | None:
    """What the language counts as a number: an optional sign, digits, at most one point."""
    import re

    if not re.fullmatch(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)", text):
        return None
    return float(text)


def _reference_day(text: str) -> str | None:
    """What the language counts as a date: a YYYY-MM-DD shape, alone or before T or a space."""
    import re

    found = re.match(r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])([T ]|$)", text)
    return text[:10] if found else None


async def test_no_custom_field_text_makes_a_comparison_fail_and_only_numbers_and_dates_match(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    field = (await contacts.create_custom_field(db, clock, org.org_id, "Odd")).id
    phone = normalise_full_number("639171234567")
    ids = {}
    for value in ODD_VALUES:
        contact = await contacts.create_contact(
            db, clock, org.org_id, phone, ContactInput(custom_fields={field: value})
        )
        ids[contact.id] = value

    async def matching(op: str, value: Any) -> set[str]:
        parsed = parse_conditions(json.dumps(_one("Odd", op, value)))
        found = await selection.find_contact_ids_matching(db, org.org_id, parsed, limit=100)
        return {ids[i] for i in found}

    # Surrounding spaces are ignored.
    numbers = {v: _reference_number(v.strip(" ")) for v in ids.values()}
    assert await matching("gt", 0) == {v for v, n in numbers.items() if n is not None and n > 0}
    assert await matching("lte", "0") == {v for v, n in numbers.items() if n is not None and n <= 0}
    days = {v: _reference_day(v.strip(" ")) for v in ids.values()}
    assert await matching("gte", "2026-02-01") == {
        v for v, d in days.items() if d is not None and d >= "2026-02-01"
    }
    assert await matching("lt", "2026-12-31") == {
        v for v, d in days.items() if d is not None and d < "2026-12-31"
    }
