"""Groups and custom fields over HTTP (Tambuli's extension, in engageSPARK's conventions).

These routes are not in the reference spec; their errors still have the spec's error_400 shape.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tambuli.clock import FakeClock
from tambuli.contacts.groups import insert_custom_field
from tambuli.db.engine import Database
from tests.api.conftest import TIMESTAMP, OrgApi
from tests.conftest import OrgFactory
from tests.support.spec import assert_matches_component


async def list_groups(api: OrgApi) -> list[dict[str, Any]]:
    """The organization's groups, as GET …/groups/ shows them."""
    response = await api.call("GET", f"{api.base}/groups/", None)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"groups"}
    groups: list[dict[str, Any]] = body["groups"]
    return groups


async def list_custom_fields(api: OrgApi) -> list[dict[str, Any]]:
    """The organization's custom fields, as GET …/customfields/ shows them."""
    response = await api.call("GET", f"{api.base}/customfields/", None)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"customFields"}
    fields: list[dict[str, Any]] = body["customFields"]
    return fields


async def post(api: OrgApi, resource: str, body: Any) -> tuple[int, dict[str, Any]]:
    """POST a body to …/groups/ or …/customfields/; 400 bodies are checked for their shape."""
    response = await api.call("POST", f"{api.base}/{resource}/", None, json=body)
    answer: dict[str, Any] = response.json()
    if response.status_code == 400:
        assert_matches_component("error_400", answer)
    return response.status_code, answer


# --- groups -----------------------------------------------------------------------------------


async def test_a_new_organization_has_no_groups(api: OrgApi) -> None:
    assert await list_groups(api) == []


async def test_creating_a_group_returns_it_with_size_zero(api: OrgApi) -> None:
    status, group = await post(api, "groups", {"name": "Mothers"})
    assert status == 200
    assert set(group) == {"id", "name", "size", "createdAt"}
    assert isinstance(group["id"], int)
    assert (group["name"], group["size"]) == ("Mothers", 0)
    assert TIMESTAMP.match(group["createdAt"])
    assert await list_groups(api) == [group]


async def test_groups_are_listed_oldest_first_with_their_sizes(api: OrgApi) -> None:
    first = await api.new_group("First")
    second = await api.new_group("Second")
    await api.new_contact(groups=[first, second])
    await api.new_contact(groups=[second])
    groups = await list_groups(api)
    assert [(g["id"], g["name"], g["size"]) for g in groups] == [
        (first, "First", 1),
        (second, "Second", 2),
    ]


@pytest.mark.parametrize("again", ["Clinic", "clinic", "CLINIC", "  Clinic  "])
async def test_a_group_name_taken_in_any_case_is_refused(api: OrgApi, again: str) -> None:
    await api.new_group("Clinic")
    status, body = await post(api, "groups", {"name": again})
    assert status == 400
    assert body["errorCode"] == "group.duplicatename"
    assert len(await list_groups(api)) == 1


async def test_two_organizations_may_have_groups_with_the_same_name(
    api: OrgApi, make_org: OrgFactory
) -> None:
    other = OrgApi(api.server, await make_org(), api.client)
    mine = await api.new_group("Clinic")
    theirs = await other.new_group("Clinic")
    assert mine != theirs
    assert [g["id"] for g in await list_groups(api)] == [mine]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"name": ""}, "request.invalid"),
        ({"name": "   "}, "request.invalid"),
        ({"name": "x" * 201}, "request.invalidfield"),
        ({"name": "a\x00b"}, "request.invalidfield"),
        ({}, "request.invalidfield"),
        ({"name": 5}, "request.invalidfield"),
        ([], "request.invalidfield"),
    ],
)
async def test_a_bad_group_body_is_refused(api: OrgApi, body: Any, code: str) -> None:
    status, answer = await post(api, "groups", body)
    assert status == 400
    assert answer["errorCode"] == code
    assert await list_groups(api) == []


# --- custom fields ----------------------------------------------------------------------------


async def test_a_new_organization_has_no_custom_fields(api: OrgApi) -> None:
    assert await list_custom_fields(api) == []


async def test_creating_a_custom_field_returns_it(api: OrgApi) -> None:
    status, field = await post(api, "customfields", {"name": "Favorite color"})
    assert status == 200
    assert set(field) == {"id", "name", "createdAt"}
    assert isinstance(field["id"], int)
    assert field["name"] == "Favorite color"
    assert TIMESTAMP.match(field["createdAt"])
    assert await list_custom_fields(api) == [field]


async def test_creating_a_custom_field_again_in_any_case_returns_the_existing_one(
    api: OrgApi,
) -> None:
    status, first = await post(api, "customfields", {"name": "Color"})
    assert status == 200
    status, again = await post(api, "customfields", {"name": "COLOR"})
    assert status == 200
    assert again == first
    assert await list_custom_fields(api) == [first]


async def test_custom_fields_are_listed_oldest_first(api: OrgApi) -> None:
    color = await api.new_custom_field("Color")
    size = await api.new_custom_field("Size")
    await api.new_contact(customFieldsByName={"Shape": "round"})
    fields = await list_custom_fields(api)
    assert [f["name"] for f in fields] == ["Color", "Size", "Shape"]
    assert [f["id"] for f in fields][:2] == [color, size]


async def test_creating_a_field_whose_name_is_shared_returns_the_oldest(
    api: OrgApi, db: Database, clock: FakeClock
) -> None:
    async with db.write() as conn:
        oldest = await insert_custom_field(conn, api.org_id, "Shade", clock.now())
        await insert_custom_field(conn, api.org_id, "shade", clock.now())
    status, field = await post(api, "customfields", {"name": "SHADE"})
    assert status == 200
    assert (field["id"], field["name"]) == (oldest, "Shade")


async def test_concurrent_creates_of_one_new_field_name_make_one_field(api: OrgApi) -> None:
    spellings = ["District", "DISTRICT", "district"]
    ids = await asyncio.gather(*(api.new_custom_field(spellings[i % 3]) for i in range(30)))
    fields = await list_custom_fields(api)
    assert len(fields) == 1, f"{len(fields)} fields"
    assert set(ids) == {fields[0]["id"]}


async def test_two_organizations_get_their_own_custom_fields(
    api: OrgApi, make_org: OrgFactory
) -> None:
    other = OrgApi(api.server, await make_org(), api.client)
    mine = await api.new_custom_field("Color")
    theirs = await other.new_custom_field("Color")
    assert mine != theirs
    assert [f["id"] for f in await list_custom_fields(other)] == [theirs]


@pytest.mark.parametrize(
    "body", [{"name": ""}, {"name": "x" * 201}, {}, {"name": None}, {"name": 5, "b": 1}]
)
async def test_a_bad_custom_field_body_is_refused(api: OrgApi, body: Any) -> None:
    status, _ = await post(api, "customfields", body)
    assert status == 400
    assert await list_custom_fields(api) == []


@pytest.mark.parametrize("resource", ["groups", "customfields"])
async def test_groups_and_custom_fields_need_a_token(api: OrgApi, resource: str) -> None:
    for method, body in (("GET", None), ("POST", {"name": "Nope"})):
        response = await api.call(
            method, f"{api.base}/{resource}/", None, authorized=False, json=body
        )
        assert response.status_code == 401
        assert response.json() == {"error": "Invalid Token"}
    listed = await api.call("GET", f"{api.base}/{resource}/", None)
    assert next(iter(listed.json().values())) == []
