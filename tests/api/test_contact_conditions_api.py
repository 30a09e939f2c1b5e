"""The contacts list's `conditions` and empty filter parameters over HTTP, against the spec."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.api.conftest import OrgApi
from tests.api.test_contacts_api import assert_error


async def _listed(api: OrgApi, params: dict[str, Any]) -> dict[str, Any]:
    response = await api.list_contacts(params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _ids(body: dict[str, Any]) -> list[int]:
    return [c["id"] for c in body["contacts"]]


async def test_conditions_filter_the_list_by_contact_and_custom_fields(api: OrgApi) -> None:
    group = await api.new_group("Farmers")
    field = await api.new_custom_field("Hectares")
    ana = await api.new_contact(firstName="Ana", groups=[group], customFields={str(field): "2.5"})
    ben = await api.new_contact(firstName="Ben", groups=[group], customFields={str(field): "12"})
    await api.new_contact(firstName="Carla", customFields={str(field): "40"})
    conditions = {
        "all": [
            {"field": "groups", "op": "contains", "value": group},
            {"field": "Hectares", "op": "gt", "value": 2},
        ]
    }
    body = await _listed(api, {"conditions": json.dumps(conditions)})
    assert _ids(body) == [ana["id"], ben["id"]]
    assert (body["total"], body["orgTotal"]) == (2, 3)
    by_id = {"any": [{"field": f"customFields.{field}", "op": "lt", "value": "3"}]}
    assert _ids(await _listed(api, {"conditions": json.dumps(by_id)})) == [ana["id"]]


async def test_paging_keeps_the_filter_and_its_total(api: OrgApi) -> None:
    made = [
        (await api.new_contact(firstName=name))["id"] for name in ("Ana", "Andres", "Ben", "Anton")
    ]
    conditions = json.dumps({"field": "firstName", "op": "startswith", "value": "an"})
    pages = []
    for page in (1, 2, 3):
        body = await _listed(api, {"conditions": conditions, "size": 2, "page": page})
        assert (body["total"], body["orgTotal"]) == (3, 4)
        pages.append(_ids(body))
    assert pages == [[made[0], made[1]], [made[3]], []]


async def test_conditions_combine_with_search_and_the_other_filters(api: OrgApi) -> None:
    group = await api.new_group("Clinic")
    wanted = await api.new_contact(firstName="Ana", language="Tagalog", groups=[group])
    await api.new_contact(firstName="Ana", language="English", groups=[group])
    await api.new_contact(firstName="Ben", language="Tagalog", groups=[group])
    conditions = json.dumps([{"field": "language", "op": "eq", "value": "tagalog"}])
    body = await _listed(api, {"conditions": conditions, "search": "ana", "groupid": group})
    assert _ids(body) == [wanted["id"]]


@pytest.mark.parametrize(
    "params",
    [
        {"conditions": ""},
        {"conditions": "  "},
        {"conditions": "[]"},
        {"conditions": "{}"},
        {"conditions": '{"all": []}'},
        {"groupid": ""},
        {"subscriptionfilter": ""},
        {"subscriptionstatus": ""},
        {"subscriptionstatus": "", "subscriptionfilter": ""},
        {"noautodelete": ""},
        {"whatsappready": ""},
        {"phonenumber": "", "region": ""},
        {"search": ""},
        {
            "conditions": "",
            "groupid": "",
            "subscriptionstatus": "",
            "subscriptionfilter": "",
            "noautodelete": "",
            "whatsappready": "",
            "phonenumber": "",
            "region": "",
            "search": "",
        },
    ],
)
async def test_an_empty_filter_parameter_is_no_filter(api: OrgApi, params: dict[str, str]) -> None:
    group = await api.new_group("Some")
    made = [
        (await api.new_contact(firstName="Ana", groups=[group]))["id"],
        (await api.new_contact(noAutodelete=True))["id"],
    ]
    body = await _listed(api, params)
    assert _ids(body) == made
    assert body["total"] == body["orgTotal"] == 2
    assert all("subscription" not in c for c in body["contacts"])


async def test_flags_given_as_words_or_digits_still_filter(api: OrgApi) -> None:
    kept = await api.new_contact(noAutodelete=True)
    other = await api.new_contact()
    assert _ids(await _listed(api, {"noautodelete": "TRUE"})) == [kept["id"]]
    assert _ids(await _listed(api, {"noautodelete": "0"})) == [other["id"]]
    assert _ids(await _listed(api, {"whatsappready": "1"})) == []


@pytest.mark.parametrize(
    ("conditions", "at"),
    [
        ("{not json", ""),
        ('{"field": "firstName", "op": "like", "value": "a"}', "/all/0/op"),
        ('{"any": [{"field": "createdAt", "op": "gt", "value": "soon"}]}', "/any/0/value"),
        ('{"all": [{"field": "No such field", "op": "empty"}]}', "/all/0/field"),
        ('{"field": "987654321", "op": "empty"}', "/all/0/field"),
    ],
)
async def test_bad_conditions_are_400_naming_where_the_problem_is(
    api: OrgApi, conditions: str, at: str
) -> None:
    response = await api.list_contacts({"conditions": conditions})
    assert response.status_code == 400
    body = response.json()
    assert_error(body, "contact.conditions")
    assert body["context"] == {"field": "conditions", "at": at}


async def test_another_organizations_custom_field_cannot_be_filtered_on(
    api: OrgApi, make_org: Any
) -> None:
    other = OrgApi(api.server, await make_org(name="Other org"), api.client)
    theirs = await other.new_custom_field("Secret")
    conditions = json.dumps({"field": str(theirs), "op": "notempty"})
    response = await api.list_contacts({"conditions": conditions})
    assert response.status_code == 400
    assert_error(response.json(), "contact.conditions")
