"""The contacts routes over HTTP: create, get, update, delete and list, checked against the spec."""

from __future__ import annotations

from typing import Any

import pytest

from tambuli.clock import FakeClock
from tambuli.contacts import phones
from tambuli.contacts import service as contacts
from tambuli.contacts.groups import insert_custom_field
from tambuli.contacts.models import ContactInput
from tambuli.db.engine import Database
from tests.api.conftest import TIMESTAMP, OrgApi
from tests.conftest import OrgFactory

GLOBE_NUMBER = "639171234567"
SMART_NUMBER = "639181234567"

CONTACT_KEYS = {
    "id",
    "fullPhoneNumber",
    "firstName",
    "lastName",
    "language",
    "groups",
    "customFields",
    "carrier",
    "createdAt",
    "updatedAt",
    "lastUseAt",
    "noAutodelete",
    "withBsuid",
    "invalid",
}


def assert_error(body: dict[str, Any], code: str) -> None:
    """An engageSPARK error body with the given errorCode and some English message."""
    assert body["errorCode"] == code, body
    assert isinstance(body["error"], str) and body["error"], body


async def other_org_api(api: OrgApi, make_org: OrgFactory) -> OrgApi:
    """The API of a second organization on the same server and client."""
    return OrgApi(api.server, await make_org(name="Other org"), api.client)


# --- create -----------------------------------------------------------------------------------


async def test_creating_a_contact_returns_every_field_of_the_spec(api: OrgApi) -> None:
    response = await api.create_contact(
        {
            "fullPhoneNumber": GLOBE_NUMBER,
            "firstName": "Maria",
            "lastName": "Santos",
            "language": "Tagalog",
            "noAutodelete": True,
        }
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == CONTACT_KEYS
    assert isinstance(body["id"], int) and body["id"] > 0
    assert body["fullPhoneNumber"] == GLOBE_NUMBER
    assert (body["firstName"], body["lastName"], body["language"]) == ("Maria", "Santos", "Tagalog")
    assert body["groups"] == []
    assert body["customFields"] == {}
    assert body["noAutodelete"] is True
    assert body["withBsuid"] is False
    assert body["invalid"] is False


async def test_a_created_contact_can_be_read_back_unchanged(api: OrgApi) -> None:
    created = await api.new_contact(firstName="Ana", language="Cebuano")
    response = await api.get_contact(created["id"])
    assert response.status_code == 200
    assert response.json() == created


@pytest.mark.parametrize("given", [GLOBE_NUMBER, "+" + GLOBE_NUMBER, " +63 917 123 4567 "])
async def test_a_full_phone_number_is_stored_as_digits_with_or_without_plus(
    api: OrgApi, given: str
) -> None:
    created = await api.new_contact(fullPhoneNumber=given)
    assert created["fullPhoneNumber"] == GLOBE_NUMBER


@pytest.mark.parametrize(
    ("local", "country", "full"),
    [
        ("09171234567", "PH", GLOBE_NUMBER),
        ("0917 123 4567", "ph", GLOBE_NUMBER),
        ("(415) 555-2671", "US", "14155552671"),
    ],
)
async def test_a_local_number_with_its_country_becomes_the_full_number(
    api: OrgApi, local: str, country: str, full: str
) -> None:
    response = await api.create_contact({"phoneNumber": local, "phoneNumberCountry": country})
    assert response.status_code == 200, response.text
    assert response.json()["fullPhoneNumber"] == full


@pytest.mark.parametrize(
    "extra",
    [
        {"phoneNumberCountry": "PH"},
        {"phoneNumberCountry": "ph"},
        {"phoneNumber": "", "phoneNumberCountry": ""},
        {"phoneNumber": ""},
    ],
)
async def test_a_full_number_with_an_agreeing_country_or_empty_placeholders_is_accepted(
    api: OrgApi, extra: dict[str, str]
) -> None:
    response = await api.create_contact({"fullPhoneNumber": GLOBE_NUMBER, **extra})
    assert response.status_code == 200, response.text
    assert response.json()["fullPhoneNumber"] == GLOBE_NUMBER


@pytest.mark.parametrize(
    "body",
    [
        {"fullPhoneNumber": GLOBE_NUMBER, "phoneNumber": "09171234567", "phoneNumberCountry": "PH"},
        {"fullPhoneNumber": GLOBE_NUMBER, "phoneNumberCountry": "US"},
        {"fullPhoneNumber": "", "phoneNumber": "", "phoneNumberCountry": ""},
        {"fullPhoneNumber": ""},
        {"phoneNumber": "", "phoneNumberCountry": "PH"},
        {},
        {"firstName": "Nobody"},
        {"phoneNumber": "09171234567"},
        {"phoneNumberCountry": "PH"},
    ],
)
async def test_both_phone_number_forms_or_neither_are_refused(
    api: OrgApi, body: dict[str, Any]
) -> None:
    response = await api.create_contact(body)
    assert response.status_code == 400
    assert_error(response.json(), "contact.phonenumberform")
    assert await api.contact_count() == 0


@pytest.mark.parametrize(
    "body",
    [
        {"fullPhoneNumber": "123"},
        {"fullPhoneNumber": "+63917"},
        {"fullPhoneNumber": "not a number"},
        {"fullPhoneNumber": "6391712345678901234"},
        {"fullPhoneNumber": "+12345678"},
        {"fullPhoneNumber": "+999123456789"},
        {"phoneNumber": "12345", "phoneNumberCountry": "PH"},
        {"phoneNumber": "09171234567", "phoneNumberCountry": "XX"},
        {"phoneNumber": "09171234567", "phoneNumberCountry": "PHL"},
    ],
)
async def test_an_invalid_phone_number_is_refused(api: OrgApi, body: dict[str, Any]) -> None:
    response = await api.create_contact(body)
    assert response.status_code == 400
    assert_error(response.json(), "contact.invalidphonenumber")
    assert await api.contact_count() == 0


@pytest.mark.parametrize(
    ("number", "carrier"),
    [(GLOBE_NUMBER, "Globe"), (SMART_NUMBER, "Smart"), ("14155552671", "")],
)
async def test_the_carrier_comes_from_the_number(api: OrgApi, number: str, carrier: str) -> None:
    created = await api.new_contact(fullPhoneNumber=number)
    assert created["carrier"] == carrier


async def test_several_contacts_may_share_one_phone_number(api: OrgApi) -> None:
    first = await api.new_contact(firstName="First")
    second = await api.new_contact(firstName="Second")
    assert first["id"] != second["id"]
    listed = (await api.list_contacts({"phonenumber": GLOBE_NUMBER})).json()
    assert [c["id"] for c in listed["contacts"]] == [first["id"], second["id"]]


async def test_text_fields_are_trimmed(api: OrgApi) -> None:
    created = await api.new_contact(firstName="  Ana ", lastName=" Cruz", language="en  ")
    assert (created["firstName"], created["lastName"], created["language"]) == ("Ana", "Cruz", "en")


async def test_timestamps_are_rfc3339_utc_with_microseconds_and_z(api: OrgApi) -> None:
    created = await api.new_contact()
    for key in ("createdAt", "updatedAt", "lastUseAt"):
        assert TIMESTAMP.match(created[key]), created[key]
    assert created["createdAt"] == created["updatedAt"] == created["lastUseAt"]


# --- groups on a contact ----------------------------------------------------------------------


async def test_groups_may_be_given_as_integers_or_strings_of_integers(api: OrgApi) -> None:
    first = await api.new_group("Mothers")
    second = await api.new_group("Fathers")
    created = await api.new_contact(groups=[first, str(second)])
    assert sorted(created["groups"]) == sorted([first, second])
    assert all(isinstance(g, int) for g in created["groups"])
    assert sorted((await api.get_contact(created["id"])).json()["groups"]) == sorted(
        [first, second]
    )


async def test_a_group_named_twice_is_joined_once(api: OrgApi) -> None:
    group = await api.new_group("Clinic")
    created = await api.new_contact(groups=[group, str(group), group])
    assert created["groups"] == [group]


async def test_an_unknown_group_is_refused_and_nothing_is_created(api: OrgApi) -> None:
    known = await api.new_group("Known")
    response = await api.create_contact(
        {"fullPhoneNumber": GLOBE_NUMBER, "groups": [known, known + 1000]}
    )
    assert response.status_code == 400
    assert_error(response.json(), "contact.unknowngroup")
    assert await api.contact_count() == 0


async def test_another_organizations_group_is_unknown(api: OrgApi, make_org: OrgFactory) -> None:
    other = await other_org_api(api, make_org)
    foreign = await other.new_group("Theirs")
    response = await api.create_contact({"fullPhoneNumber": GLOBE_NUMBER, "groups": [foreign]})
    assert response.status_code == 400
    assert_error(response.json(), "contact.unknowngroup")


@pytest.mark.parametrize("bad", ["abc", "0", "-3", "1.5", "", 0, -1, 99999999999999999999])
async def test_a_group_id_that_is_not_an_id_is_refused(api: OrgApi, bad: Any) -> None:
    response = await api.create_contact({"fullPhoneNumber": GLOBE_NUMBER, "groups": [bad]})
    assert response.status_code == 400
    assert_error(response.json(), "request.invalidfield")


# --- custom fields on a contact ---------------------------------------------------------------


async def test_custom_fields_are_set_by_id(api: OrgApi) -> None:
    color = await api.new_custom_field("Color")
    size = await api.new_custom_field("Size")
    created = await api.new_contact(customFields={str(color): "green", str(size): "L"})
    assert created["customFields"] == {str(color): "green", str(size): "L"}
    assert (await api.get_contact(created["id"])).json()["customFields"] == created["customFields"]


async def test_an_unknown_custom_field_id_is_refused_and_nothing_is_created(api: OrgApi) -> None:
    color = await api.new_custom_field("Color")
    response = await api.create_contact(
        {"fullPhoneNumber": GLOBE_NUMBER, "customFields": {str(color + 1000): "x"}}
    )
    assert response.status_code == 400
    assert_error(response.json(), "contact.unknowncustomfield")
    assert await api.contact_count() == 0


@pytest.mark.parametrize("key", ["color", "0", "-1", "1.0"])
async def test_a_custom_field_key_that_is_not_an_id_is_refused(api: OrgApi, key: str) -> None:
    response = await api.create_contact(
        {"fullPhoneNumber": GLOBE_NUMBER, "customFields": {key: "x"}}
    )
    assert response.status_code == 400
    assert_error(response.json(), "request.invalidfield")


async def test_custom_fields_by_name_reuse_an_existing_field_in_any_case(api: OrgApi) -> None:
    color = await api.new_custom_field("Color")
    created = await api.new_contact(customFieldsByName={"color": "green"})
    assert created["customFields"] == {str(color): "green"}
    fields = (await api.call("GET", f"{api.base}/customfields/", None)).json()["customFields"]
    assert [(f["id"], f["name"]) for f in fields] == [(color, "Color")]


async def test_custom_fields_by_name_create_a_field_that_does_not_exist(api: OrgApi) -> None:
    created = await api.new_contact(customFieldsByName={"Favorite color": "blue"})
    fields = (await api.call("GET", f"{api.base}/customfields/", None)).json()["customFields"]
    assert [f["name"] for f in fields] == ["Favorite color"]
    assert created["customFields"] == {str(fields[0]["id"]): "blue"}
    again = await api.new_contact(customFieldsByName={"FAVORITE COLOR": "red"})
    assert again["customFields"] == {str(fields[0]["id"]): "red"}


async def test_creating_a_field_by_name_in_two_organizations_makes_two_fields(
    api: OrgApi, make_org: OrgFactory
) -> None:
    other = await other_org_api(api, make_org)
    mine = await api.new_contact(customFieldsByName={"Color": "green"})
    theirs = await other.new_contact(customFieldsByName={"Color": "red"})
    (my_field,) = mine["customFields"]
    (their_field,) = theirs["customFields"]
    assert my_field != their_field
    response = await api.create_contact(
        {"fullPhoneNumber": GLOBE_NUMBER, "customFields": {their_field: "x"}}
    )
    assert response.status_code == 400
    assert_error(response.json(), "contact.unknowncustomfield")


async def test_the_oldest_field_wins_when_two_share_a_name(
    api: OrgApi, db: Database, clock: FakeClock
) -> None:
    # The API never makes two fields with one name, so the duplicates are made in the database.
    async with db.write() as conn:
        oldest = await insert_custom_field(conn, api.org_id, "Shade", clock.now())
        newer = await insert_custom_field(conn, api.org_id, "SHADE", clock.now())
    assert oldest < newer
    created = await api.new_contact(customFieldsByName={"shade": "blue"})
    assert created["customFields"] == {str(oldest): "blue"}
    assert await api.new_custom_field("sHaDe") == oldest


async def test_by_name_wins_over_by_id_for_the_same_field(api: OrgApi) -> None:
    color = await api.new_custom_field("Color")
    created = await api.new_contact(
        customFields={str(color): "from id"}, customFieldsByName={"COLOR": "from name"}
    )
    assert created["customFields"] == {str(color): "from name"}


async def test_one_name_given_twice_in_different_case_sets_one_field(api: OrgApi) -> None:
    # The spec leaves open which value wins; one field and one of the two values it must be.
    created = await api.new_contact(customFieldsByName={"color": "green", "COLOR": "red"})
    assert len(created["customFields"]) == 1
    assert next(iter(created["customFields"].values())) in {"green", "red"}
    fields = (await api.call("GET", f"{api.base}/customfields/", None)).json()["customFields"]
    assert len(fields) == 1


async def test_an_empty_custom_field_value_on_create_stores_nothing(api: OrgApi) -> None:
    color = await api.new_custom_field("Color")
    created = await api.new_contact(customFields={str(color): ""})
    assert created["customFields"] == {}


# --- update -----------------------------------------------------------------------------------


async def test_updating_changes_only_the_fields_given(api: OrgApi) -> None:
    group = await api.new_group("Clinic")
    color = await api.new_custom_field("Color")
    created = await api.new_contact(
        firstName="Ana",
        lastName="Cruz",
        language="Tagalog",
        groups=[group],
        customFields={str(color): "green"},
        noAutodelete=True,
    )
    response = await api.update_contact(created["id"], {"lastName": "Reyes"})
    assert response.status_code == 200
    updated = response.json()
    unchanged = {k: v for k, v in created.items() if k not in ("lastName", "updatedAt")}
    assert {k: v for k, v in updated.items() if k not in ("lastName", "updatedAt")} == unchanged
    assert updated["lastName"] == "Reyes"
    assert TIMESTAMP.match(updated["updatedAt"])
    assert updated["updatedAt"] >= created["updatedAt"]
    assert (await api.get_contact(created["id"])).json() == updated


async def test_an_empty_update_changes_no_field(api: OrgApi) -> None:
    created = await api.new_contact(firstName="Ana")
    updated = (await api.update_contact(created["id"], {})).json()
    assert {k: v for k, v in updated.items() if k != "updatedAt"} == {
        k: v for k, v in created.items() if k != "updatedAt"
    }


async def test_updating_each_simple_field(api: OrgApi) -> None:
    created = await api.new_contact()
    changes = {
        "firstName": "Jose",
        "lastName": "Rizal",
        "language": "Spanish",
        "noAutodelete": True,
    }
    updated = (await api.update_contact(created["id"], changes)).json()
    assert {k: updated[k] for k in changes} == changes
    updated = (await api.update_contact(created["id"], {"noAutodelete": False})).json()
    assert updated["noAutodelete"] is False


async def test_updating_the_phone_number_changes_the_carrier(api: OrgApi) -> None:
    created = await api.new_contact(fullPhoneNumber=GLOBE_NUMBER)
    updated = await api.update_contact(created["id"], {"fullPhoneNumber": "+" + SMART_NUMBER})
    assert updated.status_code == 200
    assert (updated.json()["fullPhoneNumber"], updated.json()["carrier"]) == (SMART_NUMBER, "Smart")


async def test_an_invalid_phone_number_on_update_changes_nothing(api: OrgApi) -> None:
    created = await api.new_contact(firstName="Ana")
    response = await api.update_contact(
        created["id"], {"fullPhoneNumber": "123", "firstName": "Changed"}
    )
    assert response.status_code == 400
    assert_error(response.json(), "contact.invalidphonenumber")
    assert (await api.get_contact(created["id"])).json() == created


async def test_giving_groups_on_update_replaces_the_set(api: OrgApi) -> None:
    first = await api.new_group("First")
    second = await api.new_group("Second")
    third = await api.new_group("Third")
    created = await api.new_contact(groups=[first, second])
    updated = (await api.update_contact(created["id"], {"groups": [str(third), second]})).json()
    assert sorted(updated["groups"]) == sorted([second, third])


async def test_leaving_groups_out_of_an_update_keeps_them(api: OrgApi) -> None:
    group = await api.new_group("Kept")
    created = await api.new_contact(groups=[group])
    updated = (await api.update_contact(created["id"], {"firstName": "Other"})).json()
    assert updated["groups"] == [group]


async def test_an_empty_group_list_on_update_clears_the_groups(api: OrgApi) -> None:
    group = await api.new_group("Cleared")
    created = await api.new_contact(groups=[group])
    updated = (await api.update_contact(created["id"], {"groups": []})).json()
    assert updated["groups"] == []
    assert (await api.get_contact(created["id"])).json()["groups"] == []


async def test_an_unknown_group_on_update_changes_nothing(api: OrgApi) -> None:
    group = await api.new_group("Kept")
    created = await api.new_contact(groups=[group], firstName="Ana")
    response = await api.update_contact(
        created["id"], {"groups": [group + 1000], "firstName": "Changed"}
    )
    assert response.status_code == 400
    assert_error(response.json(), "contact.unknowngroup")
    assert (await api.get_contact(created["id"])).json() == created


async def test_custom_fields_on_update_change_only_the_fields_given(api: OrgApi) -> None:
    color = await api.new_custom_field("Color")
    size = await api.new_custom_field("Size")
    created = await api.new_contact(customFields={str(color): "green", str(size): "L"})
    updated = (await api.update_contact(created["id"], {"customFields": {str(size): "XL"}})).json()
    assert updated["customFields"] == {str(color): "green", str(size): "XL"}


async def test_an_empty_string_deletes_a_custom_field_value_on_update(api: OrgApi) -> None:
    color = await api.new_custom_field("Color")
    size = await api.new_custom_field("Size")
    created = await api.new_contact(customFields={str(color): "green", str(size): "L"})
    updated = (await api.update_contact(created["id"], {"customFields": {str(color): ""}})).json()
    assert updated["customFields"] == {str(size): "L"}
    by_name = await api.update_contact(created["id"], {"customFieldsByName": {"SIZE": ""}})
    assert by_name.json()["customFields"] == {}
    assert (await api.get_contact(created["id"])).json()["customFields"] == {}


async def test_custom_fields_by_name_on_update_reuse_the_existing_field(api: OrgApi) -> None:
    color = await api.new_custom_field("Color")
    created = await api.new_contact(customFields={str(color): "green"})
    updated = await api.update_contact(
        created["id"], {"customFieldsByName": {"color": "red"}, "customFields": {str(color): "x"}}
    )
    assert updated.json()["customFields"] == {str(color): "red"}


async def test_an_unknown_custom_field_on_update_changes_nothing(api: OrgApi) -> None:
    color = await api.new_custom_field("Color")
    created = await api.new_contact(customFields={str(color): "green"})
    response = await api.update_contact(
        created["id"], {"customFields": {str(color): "red", str(color + 1000): "x"}}
    )
    assert response.status_code == 400
    assert_error(response.json(), "contact.unknowncustomfield")
    assert (await api.get_contact(created["id"])).json() == created


async def test_updating_a_contact_that_does_not_exist_returns_404(api: OrgApi) -> None:
    created = await api.new_contact()
    await api.delete_contact(created["id"])
    response = await api.update_contact(created["id"], {"firstName": "Ghost"})
    assert response.status_code == 404
    assert response.json() == {"error": "Not found", "errorCode": "contact.notfound"}


# --- delete -----------------------------------------------------------------------------------


async def test_deleting_a_contact_returns_an_empty_object_and_then_it_is_gone(api: OrgApi) -> None:
    created = await api.new_contact()
    response = await api.delete_contact(created["id"])
    assert response.status_code == 200
    assert response.json() == {}
    gone = await api.get_contact(created["id"])
    assert gone.status_code == 404
    assert gone.json() == {"error": "Not found", "errorCode": "contact.notfound"}


async def test_deleting_a_contact_twice_returns_404(api: OrgApi) -> None:
    created = await api.new_contact()
    assert (await api.delete_contact(created["id"])).status_code == 200
    again = await api.delete_contact(created["id"])
    assert again.status_code == 404
    assert again.json() == {"error": "Not found", "errorCode": "contact.notfound"}


async def test_deleting_a_contact_leaves_the_others_and_its_groups(api: OrgApi) -> None:
    group = await api.new_group("Clinic")
    doomed = await api.new_contact(groups=[group])
    kept = await api.new_contact(groups=[group])
    await api.delete_contact(doomed["id"])
    listed = (await api.list_contacts()).json()
    assert [c["id"] for c in listed["contacts"]] == [kept["id"]]
    groups = (await api.call("GET", f"{api.base}/groups/", None)).json()["groups"]
    assert [(g["id"], g["size"]) for g in groups] == [(group, 1)]


async def test_a_contact_of_another_organization_is_not_found(
    api: OrgApi, make_org: OrgFactory
) -> None:
    other = await other_org_api(api, make_org)
    theirs = await other.new_contact(firstName="Theirs")
    for response in (
        await api.get_contact(theirs["id"]),
        await api.update_contact(theirs["id"], {"firstName": "Mine now"}),
        await api.delete_contact(theirs["id"]),
    ):
        assert response.status_code == 404
        assert_error(response.json(), "contact.notfound")
    assert (await other.get_contact(theirs["id"])).json() == theirs


# --- list -------------------------------------------------------------------------------------


async def _add_contacts(
    db: Database, clock: FakeClock, org_id: int, count: int, **fields: Any
) -> list[int]:
    # Many contacts at once through the service, on the database the server also uses.
    phone = phones.normalise_full_number(GLOBE_NUMBER)
    made = []
    for _ in range(count):
        contact = await contacts.create_contact(db, clock, org_id, phone, ContactInput(**fields))
        made.append(contact.id)
    return made


async def test_an_empty_organization_lists_no_contacts(api: OrgApi) -> None:
    response = await api.list_contacts()
    assert response.status_code == 200
    assert response.json() == {"total": 0, "orgTotal": 0, "contacts": []}


async def test_the_list_shows_contacts_oldest_first_with_their_fields(api: OrgApi) -> None:
    first = await api.new_contact(firstName="First")
    second = await api.new_contact(firstName="Second")
    body = (await api.list_contacts()).json()
    assert body["total"] == body["orgTotal"] == 2
    assert body["contacts"] == [first, second]


async def test_the_default_page_size_is_100(api: OrgApi, db: Database, clock: FakeClock) -> None:
    ids = await _add_contacts(db, clock, api.org_id, 101)
    body = (await api.list_contacts()).json()
    assert (body["total"], body["orgTotal"]) == (101, 101)
    assert [c["id"] for c in body["contacts"]] == ids[:100]
    rest = (await api.list_contacts({"page": 2})).json()
    assert [c["id"] for c in rest["contacts"]] == ids[100:]


async def test_pages_start_at_1_and_split_the_list_by_size(
    api: OrgApi, db: Database, clock: FakeClock
) -> None:
    ids = await _add_contacts(db, clock, api.org_id, 5)
    pages = []
    for page in (1, 2, 3, 4):
        body = (await api.list_contacts({"page": page, "size": 2})).json()
        assert (body["total"], body["orgTotal"]) == (5, 5)
        pages.append([c["id"] for c in body["contacts"]])
    assert pages == [ids[0:2], ids[2:4], ids[4:5], []]


async def test_a_page_size_of_1000_is_allowed(api: OrgApi) -> None:
    response = await api.list_contacts({"size": 1000})
    assert response.status_code == 200


async def test_a_page_or_size_out_of_range_is_clamped_into_range(api: OrgApi) -> None:
    ids = [(await api.new_contact(firstName=f"Clamp{n}"))["id"] for n in range(3)]

    async def listed(params: dict[str, Any]) -> list[int]:
        response = await api.list_contacts({"search": "Clamp", **params})
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()["contacts"]]

    assert await listed({"size": 0}) == ids[:1]
    assert await listed({"size": -1}) == ids[:1]
    assert await listed({"size": 1001}) == ids
    assert await listed({"size": 2, "page": 0}) == ids[:2]
    assert await listed({"size": 2, "page": -1}) == ids[:2]


@pytest.mark.parametrize(
    "params",
    [
        {"page": "first"},
        {"size": "ten"},
        {"page": 99999999999999999999},
        {"groupid": 99999999999999999999},
        {"groupid": -99999999999999999999},
        {"groupid": 0},
        {"groupid": "abc"},
        {"search": "a\x00b"},
        {"noautodelete": "maybe"},
    ],
)
async def test_a_page_or_filter_out_of_range_is_refused(
    api: OrgApi, params: dict[str, Any]
) -> None:
    response = await api.list_contacts(params)
    assert response.status_code == 400
    assert_error(response.json(), "request.invalidfield")


async def test_search_matches_first_and_last_names_in_any_case(api: OrgApi) -> None:
    maria = await api.new_contact(firstName="Maria", lastName="Santos")
    jose = await api.new_contact(firstName="Jose", lastName="Mariano")
    pedro = await api.new_contact(firstName="Pedro", lastName="Cruz")
    for term, expected in (
        ("maria", [maria, jose]),
        ("SANTOS", [maria]),
        ("maria santos", [maria]),
        ("  ped ", [pedro]),
        ("pedro c", [pedro]),
        ("nobody", []),
    ):
        body = (await api.list_contacts({"search": term})).json()
        assert [c["id"] for c in body["contacts"]] == [c["id"] for c in expected], term
        assert (body["total"], body["orgTotal"]) == (len(expected), 3)


async def test_search_matches_the_digits_of_the_phone_number(api: OrgApi) -> None:
    globe = await api.new_contact(fullPhoneNumber=GLOBE_NUMBER)
    smart = await api.new_contact(fullPhoneNumber=SMART_NUMBER)
    for term, expected in (
        ("917", [globe]),
        ("+63 918", [smart]),
        ("1234567", [globe, smart]),
        ("5555", []),
    ):
        body = (await api.list_contacts({"search": term})).json()
        assert [c["id"] for c in body["contacts"]] == [c["id"] for c in expected], term


async def test_a_search_with_letters_matches_names_only_not_the_digits_of_numbers(
    api: OrgApi,
) -> None:
    juan1 = await api.new_contact(firstName="Juan1", fullPhoneNumber=GLOBE_NUMBER)
    juan21 = await api.new_contact(firstName="Juan21", fullPhoneNumber="639171111111")
    for term, expected in (
        ("Juan1", [juan1]),
        ("juan2", [juan21]),
        ("1111", [juan21]),
        ("917 111", [juan21]),
    ):
        body = (await api.list_contacts({"search": term})).json()
        assert [c["id"] for c in body["contacts"]] == [c["id"] for c in expected], term


async def test_search_treats_like_wildcards_as_plain_text(api: OrgApi) -> None:
    await api.new_contact(firstName="Ana")
    assert (await api.list_contacts({"search": "%"})).json()["total"] == 0
    assert (await api.list_contacts({"search": "_"})).json()["total"] == 0


@pytest.mark.parametrize(
    "params",
    [
        {"phonenumber": GLOBE_NUMBER},
        {"phonenumber": "+" + GLOBE_NUMBER},
        {"phonenumber": "09171234567", "region": "PH"},
        {"phonenumber": "0917 123 4567", "region": "ph"},
    ],
)
async def test_the_phone_number_filter_matches_the_normalised_number(
    api: OrgApi, params: dict[str, str]
) -> None:
    globe = await api.new_contact(fullPhoneNumber=GLOBE_NUMBER)
    await api.new_contact(fullPhoneNumber=SMART_NUMBER)
    body = (await api.list_contacts(params)).json()
    assert [c["id"] for c in body["contacts"]] == [globe["id"]]
    assert (body["total"], body["orgTotal"]) == (1, 2)


async def test_an_invalid_phone_number_filter_is_refused(api: OrgApi) -> None:
    response = await api.list_contacts({"phonenumber": "12"})
    assert response.status_code == 400
    assert_error(response.json(), "contact.invalidphonenumber")


async def test_the_group_filter_lists_the_members(api: OrgApi) -> None:
    group = await api.new_group("Members")
    other = await api.new_group("Others")
    member = await api.new_contact(groups=[group])
    await api.new_contact(groups=[other])
    await api.new_contact()
    body = (await api.list_contacts({"groupid": group})).json()
    assert [c["id"] for c in body["contacts"]] == [member["id"]]
    assert (body["total"], body["orgTotal"]) == (1, 3)
    unknown = (await api.list_contacts({"groupid": other + 1000})).json()
    assert (unknown["total"], unknown["contacts"]) == (0, [])


async def test_the_no_autodelete_filter(api: OrgApi) -> None:
    kept = await api.new_contact(noAutodelete=True)
    normal = await api.new_contact()
    yes = (await api.list_contacts({"noautodelete": "true"})).json()
    no = (await api.list_contacts({"noautodelete": "false"})).json()
    assert [c["id"] for c in yes["contacts"]] == [kept["id"]]
    assert [c["id"] for c in no["contacts"]] == [normal["id"]]


async def test_filters_combine(api: OrgApi) -> None:
    group = await api.new_group("Clinic")
    wanted = await api.new_contact(firstName="Ana", groups=[group], noAutodelete=True)
    await api.new_contact(firstName="Ana", groups=[group])
    await api.new_contact(firstName="Ana", noAutodelete=True)
    body = (
        await api.list_contacts({"search": "ana", "groupid": group, "noautodelete": "true"})
    ).json()
    assert [c["id"] for c in body["contacts"]] == [wanted["id"]]
    assert (body["total"], body["orgTotal"]) == (1, 3)


async def test_the_total_counts_every_match_not_just_the_page(
    api: OrgApi, db: Database, clock: FakeClock
) -> None:
    await _add_contacts(db, clock, api.org_id, 3, first_name="Ana")
    await _add_contacts(db, clock, api.org_id, 2, first_name="Ben")
    body = (await api.list_contacts({"search": "ana", "size": 2})).json()
    assert (body["total"], body["orgTotal"], len(body["contacts"])) == (3, 5, 2)


async def test_the_list_shows_only_the_organizations_own_contacts(
    api: OrgApi, make_org: OrgFactory
) -> None:
    other = await other_org_api(api, make_org)
    await other.new_contact()
    mine = await api.new_contact()
    body = (await api.list_contacts()).json()
    assert [c["id"] for c in body["contacts"]] == [mine["id"]]
    assert body["orgTotal"] == 1


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"subscriptionstatus": 999999999}, "campaign.notfound"),
        ({"subscriptionstatus": 0}, "campaign.notfound"),
        ({"subscriptionstatus": "x"}, "request.invalidfield"),
        ({"subscriptionstatus": "--5"}, "request.invalidfield"),
        ({"subscriptionstatus": "-5"}, "campaign.notfound"),
        ({"subscriptionfilter": "is"}, "request.invalidfield"),
        ({"subscriptionfilter": "is", "subscriptionstatus": ""}, "request.invalidfield"),
        ({"subscriptionfilter": "maybe"}, "request.invalidfield"),
        ({"conditions": "{"}, "contact.conditions"),
    ],
)
async def test_unknown_campaigns_lone_subscription_filters_and_bad_conditions_are_400(
    api: OrgApi, params: dict[str, Any], code: str
) -> None:
    response = await api.list_contacts(params)
    assert response.status_code == 400
    assert_error(response.json(), code)


async def test_whatsapp_ready_leaves_out_contacts_that_never_wrote_on_whatsapp(api: OrgApi) -> None:
    contact = await api.new_contact()
    ready = (await api.list_contacts({"whatsappready": "true"})).json()
    assert (ready["total"], ready["orgTotal"], ready["contacts"]) == (0, 1, [])
    not_ready = (await api.list_contacts({"whatsappready": "false"})).json()
    assert [c["id"] for c in not_ready["contacts"]] == [contact["id"]]
