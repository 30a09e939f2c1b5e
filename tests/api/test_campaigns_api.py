"""Campaigns over real HTTP: management, subscribe/unsubscribe (against the spec), the legacy
Subscription API, run schedules and subscription status on contacts."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tambuli.messaging.senders import register_sender
from tambuli.organizations.models import NewOrganization
from tests.api.conftest import OrgApi, auth_header
from tests.conftest import OrgFactory
from tests.support.server import RunningServer
from tests.support.spec import CONTACT_PATH, CONTACTS_PATH, SUBSCRIBE_PATH, UNSUBSCRIBE_PATH

DRIP: dict[str, Any] = {
    "name": "Farm tips",
    "kind": "drip",
    "steps": [
        {"delay": {"unit": "day", "value": 1, "time": "09:00"}, "message": "Tip one"},
        {"delay": {"unit": "week", "value": 1, "time": "09:00"}, "message": "Tip two"},
    ],
}


class CampaignApi(OrgApi):
    """The campaign routes of one funded organization."""

    def number(self, n: int = 0) -> str:
        """A Philippine number of this organization's own (no simulator behaviour suffix)."""
        return f"63917{self.org_id % 10**4:04d}{n:02d}9"

    async def create(self, definition: dict[str, Any] | None = None) -> int:
        """Create a campaign that must succeed; its ID."""
        response = await self.call("POST", f"{self.base}/campaigns/", None, json=definition or DRIP)
        assert response.status_code == 201, response.text
        return int(response.json()["campaignId"])

    async def launch(self, campaign_id: int) -> dict[str, Any]:
        """Launch a campaign; its JSON."""
        response = await self.call("POST", f"{self.base}/campaigns/{campaign_id}/launch", None)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    async def launched(self, definition: dict[str, Any] | None = None) -> int:
        """A created and launched campaign's ID."""
        campaign_id = await self.create(definition)
        await self.launch(campaign_id)
        return campaign_id

    async def subscribe(self, campaign_id: int | str, body: Any) -> httpx.Response:
        """POST …/engagements/{id}/subscribe, checked against the spec."""
        return await self.call(
            "POST",
            f"{self.base}/engagements/{campaign_id}/subscribe",
            SUBSCRIBE_PATH,
            json=body,
        )

    async def unsubscribe(self, campaign_id: int | str, body: Any) -> httpx.Response:
        """POST …/engagements/{id}/unsubscribe, checked against the spec."""
        return await self.call(
            "POST",
            f"{self.base}/engagements/{campaign_id}/unsubscribe",
            UNSUBSCRIBE_PATH,
            json=body,
        )

    async def legacy(self, campaign_id: int | str, body: Any, query: str = "") -> httpx.Response:
        """POST /api/v1/engagements/{id}/contacts/ (the legacy Subscription API)."""
        return await self.call(
            "POST", f"/api/v1/engagements/{campaign_id}/contacts/{query}", None, json=body
        )


@pytest.fixture
async def funded(make_org: OrgFactory) -> NewOrganization:
    """An organization with money."""
    return await make_org(balance_micro=10_000_000)


@pytest.fixture
def capi(server: RunningServer, funded: NewOrganization, http: httpx.AsyncClient) -> CampaignApi:
    """The campaign API of a funded organization."""
    return CampaignApi(server, funded, http)


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    """An engageSPARK-style error body with this status and errorCode."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["errorCode"] == code, body
    assert body["error"]


# --- management ------------------------------------------------------------------------------


async def test_a_campaign_is_created_as_a_draft_launched_stopped_and_listed(
    capi: CampaignApi,
) -> None:
    campaign_id = await capi.create()
    got = (await capi.call("GET", f"{capi.base}/campaigns/{campaign_id}/", None)).json()
    assert (got["state"], got["kind"], got["openForSubscriptions"]) == ("draft", "drip", True)
    assert [s["message"] for s in got["steps"]] == ["Tip one", "Tip two"]
    assert (await capi.launch(campaign_id))["state"] == "launched"
    stopped = await capi.call("POST", f"{capi.base}/campaigns/{campaign_id}/stop", None)
    assert stopped.json()["state"] == "stopped"
    listed = (await capi.call("GET", f"{capi.base}/campaigns/", None)).json()["campaigns"]
    assert [c["id"] for c in listed] == [campaign_id]


async def test_only_a_draft_may_change_its_steps(capi: CampaignApi) -> None:
    campaign_id = await capi.create()
    path = f"{capi.base}/campaigns/{campaign_id}/"
    renamed = await capi.call("PATCH", path, None, json={"steps": DRIP["steps"][:1]})
    assert len(renamed.json()["steps"]) == 1
    await capi.launch(campaign_id)
    locked = await capi.call("PATCH", path, None, json={"steps": DRIP["steps"]})
    assert_error(locked, 400, "campaign.locked")
    window = {"sendingWindow": {"from": "08:00", "until": "20:00"}, "name": "Renamed"}
    changed = await capi.call("PATCH", path, None, json=window)
    assert changed.json()["sendingWindow"] == {"from": "08:00", "until": "20:00"}
    cleared = await capi.call("PATCH", path, None, json={"sendingWindow": None})
    assert (cleared.json()["sendingWindow"], cleared.json()["name"]) == (None, "Renamed")


@pytest.mark.parametrize(
    ("definition", "field"),
    [
        ({**DRIP, "kind": "newsletter"}, "kind"),
        ({**DRIP, "steps": []}, "steps"),
        ({**DRIP, "name": " "}, "name"),
        ({**DRIP, "kind": "blast"}, "steps"),
        ({**DRIP, "steps": [{"message": {"Tagalog": "x"}}]}, "steps[0].message"),
        ({**DRIP, "steps": [{"message": "x", "delay": {"unit": "fortnight"}}]}, "unit"),
        ({**DRIP, "kind": "blast", "steps": [{"message": "x", "choices": ["a"]}]}, "choices"),
        ({**DRIP, "steps": [{"message": "x", "before": True}]}, "steps[0].before"),
        ({**DRIP, "sendingWindow": {"from": "25:00", "until": "20:00"}}, "sendingWindow.from"),
        ({**DRIP, "sender": "way too long sender"}, None),
    ],
)
async def test_a_bad_definition_is_400_and_creates_nothing(
    capi: CampaignApi, definition: dict[str, Any], field: str | None
) -> None:
    response = await capi.call("POST", f"{capi.base}/campaigns/", None, json=definition)
    assert response.status_code == 400, response.text
    assert response.json()["errorCode"].startswith(("request.", "sms."))
    if field is not None:
        assert field in response.text
    listed = (await capi.call("GET", f"{capi.base}/campaigns/", None)).json()["campaigns"]
    assert listed == []


async def test_unknown_campaigns_are_404_on_our_routes(capi: CampaignApi) -> None:
    for path in ("/campaigns/999999999/", "/campaigns/abc/", "/campaigns/9/runs/1/schedule"):
        response = await capi.call("GET", capi.base + path, None)
        assert response.status_code == 404, (path, response.text)


# --- subscribe / unsubscribe -----------------------------------------------------------------


async def test_subscribing_a_number_creates_its_contact_and_a_run(capi: CampaignApi) -> None:
    campaign_id = await capi.launched()
    response = await capi.subscribe(
        campaign_id,
        {
            "fullPhoneNumber": "+" + capi.number(),
            "args": {"source": "api"},
            "contact": {"firstName": "Juan", "customFieldsByName": {"Farm": "North"}},
        },
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    contact = (await capi.get_contact(answer["contactId"])).json()
    assert (contact["firstName"], contact["fullPhoneNumber"]) == ("Juan", capi.number())
    run = await capi.call(
        "GET", f"{capi.base}/campaigns/{campaign_id}/runs/{answer['runId']}/", None
    )
    assert (run.json()["status"], run.json()["args"]) == ("active", {"source": "api"})


async def test_subscribing_updates_the_contact_first_adding_groups_and_clearing_fields(
    capi: CampaignApi,
) -> None:
    campaign_id = await capi.launched()
    first, second = await capi.new_group("A"), await capi.new_group("B")
    field = await capi.new_custom_field("Farm")
    contact = await capi.new_contact(
        fullPhoneNumber=capi.number(7), groups=[first], customFields={str(field): "North"}
    )
    response = await capi.subscribe(
        campaign_id,
        {
            "contactId": contact["id"],
            "contact": {
                "groups": [second],
                "customFields": {str(field): ""},
                "language": "Cebuano",
            },
        },
    )
    assert response.status_code == 200, response.text
    updated = (await capi.get_contact(contact["id"])).json()
    assert (updated["groups"], updated["customFields"], updated["language"]) == (
        [first, second],
        {},
        "Cebuano",
    )


async def test_an_active_run_fails_and_allow_resubscribe_false_refuses_a_past_one(
    capi: CampaignApi,
) -> None:
    campaign_id = await capi.launched()
    first = (await capi.subscribe(campaign_id, {"fullPhoneNumber": capi.number()})).json()
    again = await capi.subscribe(campaign_id, {"contactId": first["contactId"]})
    assert_error(again, 400, "subscription.active")
    ended = await capi.unsubscribe(campaign_id, {"contactId": str(first["contactId"])})
    assert ended.json() == {"runId": first["runId"]}
    assert (await capi.unsubscribe(campaign_id, {"contactId": first["contactId"]})).json() == {}
    refused = await capi.subscribe(
        campaign_id, {"contactId": first["contactId"], "allowResubscribe": False}
    )
    assert_error(refused, 400, "subscription.resubscribe")
    resubscribed = await capi.subscribe(campaign_id, {"contactId": first["contactId"]})
    assert resubscribed.status_code == 200
    assert resubscribed.json()["runId"] != first["runId"]


@pytest.mark.parametrize("placeholders", [{"contactId": 0}, {"contactId": ""}, {"phoneNumber": ""}])
async def test_subscribe_ignores_empty_placeholders_next_to_a_number(
    capi: CampaignApi, placeholders: dict[str, Any]
) -> None:
    campaign_id = await capi.launched()
    number = capi.number(7)
    answer = await capi.subscribe(campaign_id, {"fullPhoneNumber": number, **placeholders})
    assert answer.status_code == 200, answer.text
    assert answer.json()["contactId"] > 0


async def test_unsubscribing_a_contact_without_a_run_or_an_unknown_contact_answers_empty(
    capi: CampaignApi,
) -> None:
    campaign_id = await capi.launched()
    contact = (await capi.create_contact({"fullPhoneNumber": capi.number()})).json()
    for contact_id in (contact["id"], str(contact["id"]), 999_999_999):
        answer = await capi.unsubscribe(campaign_id, {"contactId": contact_id})
        assert (answer.status_code, answer.json()) == (200, {}), contact_id


async def test_concurrent_subscriptions_of_one_contact_start_one_run(capi: CampaignApi) -> None:
    campaign_id = await capi.launched()
    contact = await capi.new_contact(fullPhoneNumber=capi.number(1))
    answers = await asyncio.gather(
        *(capi.subscribe(campaign_id, {"contactId": contact["id"]}) for _ in range(10))
    )
    assert sorted(r.status_code for r in answers) == [200] + [400] * 9
    assert {r.json()["errorCode"] for r in answers if r.status_code == 400} == {
        "subscription.active"
    }


@pytest.mark.parametrize("legacy", [False, True], ids=["subscribe", "legacy-newest"])
async def test_concurrent_subscriptions_of_one_new_number_make_one_contact_and_one_run(
    capi: CampaignApi, legacy: bool
) -> None:
    campaign_id = await capi.launched()
    number = capi.number(2)

    async def subscribe() -> httpx.Response:
        if legacy:
            body = {"fullPhoneNumber": number}
            return await capi.legacy(campaign_id, body, "?try_using_existing=newest")
        return await capi.subscribe(campaign_id, {"fullPhoneNumber": number})

    answers = await asyncio.gather(*(subscribe() for _ in range(30)))

    assert sorted(r.status_code for r in answers) == [201 if legacy else 200] + [400] * 29
    assert {r.json()["errorCode"] for r in answers if r.status_code == 400} == {
        "subscription.active"
    }
    found = (await capi.list_contacts({"phonenumber": number})).json()
    assert found["total"] == 1, f"{found['total']} contacts with the number"
    [ok] = [r.json() for r in answers if r.status_code < 300]
    contact_id = ok["data"][0]["id"] if legacy else ok["contactId"]
    assert found["contacts"][0]["id"] == contact_id
    runs = await capi.call("GET", f"{capi.base}/campaigns/{campaign_id}/runs/", None)
    assert [r["contactId"] for r in runs.json()["runs"]] == [contact_id]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "contact.phonenumberform"),
        ({"contactId": 1, "fullPhoneNumber": "639171234567"}, "contact.phonenumberform"),
        ({"phoneNumber": "9171234567"}, "contact.phonenumberform"),
        ({"fullPhoneNumber": "12"}, "contact.invalidphonenumber"),
        ({"contactId": 999999999}, "contact.notfound"),
        ({"contactId": "abc"}, "request.invalidfield"),
        ({"fullPhoneNumber": "639171234567", "allowResubscribe": "no"}, "request.invalidfield"),
        ({"fullPhoneNumber": "639171234567", "timeZone": "Mars/Base"}, "request.invalidfield"),
        ({"fullPhoneNumber": "639171234567", "delay": {"unit": "day"}}, "request.invalidfield"),
        ({"fullPhoneNumber": "639171234567", "delay": {"value": -1}}, "request.invalidfield"),
        ({"fullPhoneNumber": "639171234567", "args": []}, "request.invalidfield"),
        ({"fullPhoneNumber": "639171234567", "contact": {"groups": [999999]}}, None),
        (
            {
                "fullPhoneNumber": "639171234567",
                "delay": {"unit": "at", "at": "9999-12-31T23:59:59-01:00"},
            },
            "request.invalidfield",
        ),
        (
            {
                "fullPhoneNumber": "639171234567",
                "delay": {"unit": "at", "at": "1900-01-01T00:00:00Z"},
            },
            "request.invalidfield",
        ),
        ({"fullPhoneNumber": "639171234567", "timeZone": "Nowhere/Land"}, "request.invalidfield"),
    ],
)
async def test_bad_subscriptions_are_400_and_change_nothing(
    capi: CampaignApi, body: dict[str, Any], code: str | None
) -> None:
    campaign_id = await capi.launched()
    response = await capi.subscribe(campaign_id, body)
    assert response.status_code == 400, response.text
    if code is not None:
        assert response.json()["errorCode"] == code
    assert await capi.contact_count() == 0


async def test_json_nested_thousands_deep_is_400_not_a_server_error(capi: CampaignApi) -> None:
    campaign_id = await capi.launched()
    deep = '{"a":' * 3000 + "1" + "}" * 3000
    for path, body in (
        (f"{capi.base}/engagements/{campaign_id}/subscribe", f'{{"contactId": 1, "args": {deep}}}'),
        (f"/api/v1/engagements/{campaign_id}/contacts/", f"[{deep}]"),
        (
            f"{capi.base}/campaigns/",
            f'{{"name": "x", "kind": "drip", "steps": [{{"message": "x", "delay": {deep}}}]}}',
        ),
    ):
        response = await capi.call(
            "POST", path, None, content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400, (path, response.text)
        assert response.json()["errorCode"].startswith("request.")


async def test_text_no_database_can_store_is_400_in_args_and_definitions(
    capi: CampaignApi,
) -> None:
    campaign_id = await capi.launched()
    bodies = [
        (
            f"{capi.base}/engagements/{campaign_id}/subscribe",
            '{"fullPhoneNumber": "639171234567", "args": {"note": "a\\ud800b"}}',
        ),
        (
            f"{capi.base}/engagements/{campaign_id}/subscribe",
            '{"fullPhoneNumber": "639171234567", "args": {"a\\u0000": 1}}',
        ),
        (
            f"{capi.base}/campaigns/",
            '{"name": "x", "kind": "poll", "steps": [{"message": "q", "choices": ["\\udfff"]}]}',
        ),
    ]
    for path, body in bodies:
        response = await capi.call(
            "POST", path, None, content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400, (body, response.text)
    assert await capi.contact_count() == 0


async def test_only_launched_open_campaigns_accept_subscriptions(capi: CampaignApi) -> None:
    draft = await capi.create()
    assert_error(
        await capi.subscribe(draft, {"fullPhoneNumber": capi.number()}), 400, "campaign.closed"
    )
    closed = await capi.launched({**DRIP, "openForSubscriptions": False})
    assert_error(
        await capi.subscribe(closed, {"fullPhoneNumber": capi.number()}), 400, "campaign.closed"
    )
    assert_error(await capi.subscribe(999999999, {"contactId": 1}), 400, "campaign.notfound")
    assert_error(await capi.subscribe("x1", {"contactId": 1}), 400, "campaign.notfound")
    assert await capi.contact_count() == 0


async def test_a_campaign_that_cannot_send_is_refused_at_launch_and_subscribe_naming_why(
    capi: CampaignApi, db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    too_long = {"name": "News", "kind": "blast", "steps": [{"message": "Market day. " * 200}]}
    draft = await capi.create(too_long)
    refused = await capi.call("POST", f"{capi.base}/campaigns/{draft}/launch", None)
    assert_error(refused, 400, "sms.toolong")
    assert f"Campaign {draft} cannot send" in refused.json()["error"]
    got = await capi.call("GET", f"{capi.base}/campaigns/{draft}/", None)
    assert got.json()["state"] == "draft"
    sender = f"Own{capi.org_id % 10**8}"
    campaign_id = await capi.launched({**DRIP, "sender": sender})
    other = await make_org()
    await register_sender(db, clock, other.org_id, sender)
    answer = await capi.subscribe(campaign_id, {"fullPhoneNumber": capi.number()})
    assert_error(answer, 400, "sms.senderowned")
    assert await capi.contact_count() == 0
    # Nor may a live campaign switch to a sender it cannot use; renaming it is still fine.
    live = await capi.launched()
    path = f"{capi.base}/campaigns/{live}/"
    assert_error(
        await capi.call("PATCH", path, None, json={"sender": sender}), 400, "sms.senderowned"
    )
    renamed = await capi.call(
        "PATCH", f"{capi.base}/campaigns/{campaign_id}/", None, json={"name": "N"}
    )
    assert renamed.status_code == 200, renamed.text


async def test_a_delayed_subscription_shows_its_schedule_in_utc_and_local_time(
    capi: CampaignApi,
) -> None:
    campaign_id = await capi.launched()
    start = {"unit": "at", "value": 0, "at": "2030-03-01T01:00:00Z"}

    async def schedule_of(body: dict[str, Any]) -> dict[str, Any]:
        answer = (await capi.subscribe(campaign_id, {**body, "delay": start})).json()
        schedule = await capi.call(
            "GET", f"{capi.base}/campaigns/{campaign_id}/runs/{answer['runId']}/schedule", None
        )
        assert schedule.status_code == 200, schedule.text
        found: dict[str, Any] = schedule.json()
        return found

    # The steps' "09:00" has no zone, so it is UTC (the spec), shown in the number's zone too.
    body = await schedule_of({"fullPhoneNumber": capi.number()})
    assert body["timeZone"] == "Asia/Manila"
    assert body["steps"] == [
        {"step": 1, "fireAt": "2030-03-02T09:00:00Z", "fireAtLocal": "2030-03-02T17:00:00+08:00"},
        {"step": 2, "fireAt": "2030-03-09T09:00:00Z", "fireAtLocal": "2030-03-09T17:00:00+08:00"},
    ]
    # The request's timeZone overrides the time zone of a drip's message times.
    body = await schedule_of({"fullPhoneNumber": capi.number(1), "timeZone": "Asia/Manila"})
    assert body["timeZone"] == "Asia/Manila"
    assert body["steps"] == [
        {"step": 1, "fireAt": "2030-03-02T01:00:00Z", "fireAtLocal": "2030-03-02T09:00:00+08:00"},
        {"step": 2, "fireAt": "2030-03-09T01:00:00Z", "fireAtLocal": "2030-03-09T09:00:00+08:00"},
    ]


async def test_a_drip_may_ask_a_question_and_plans_the_steps_after_it_once_answered(
    capi: CampaignApi,
) -> None:
    question = {
        "delay": {"unit": "day", "value": 1, "time": "09:00"},
        "message": "Did you plant? YES or NO",
        "choices": ["YES", "NO"],
        "timeout": {"unit": "hour", "value": 6},
        "onTimeout": "end",
    }
    steps = [DRIP["steps"][0], question, DRIP["steps"][1]]
    campaign_id = await capi.launched({**DRIP, "steps": steps})
    got = (await capi.call("GET", f"{capi.base}/campaigns/{campaign_id}/", None)).json()
    assert (got["kind"], got["steps"]) == ("drip", steps)

    start = {"unit": "at", "value": 0, "at": "2030-03-01T01:00:00Z"}
    answer = (
        await capi.subscribe(campaign_id, {"fullPhoneNumber": capi.number(), "delay": start})
    ).json()
    schedule = await capi.call(
        "GET", f"{capi.base}/campaigns/{campaign_id}/runs/{answer['runId']}/schedule", None
    )
    assert schedule.status_code == 200, schedule.text
    # The step after the question counts from its answer, so it has no moment yet.
    assert [(s["step"], s["fireAt"]) for s in schedule.json()["steps"]] == [
        (1, "2030-03-02T09:00:00Z"),
        (2, "2030-03-03T09:00:00Z"),
        (3, None),
    ]


async def test_contacts_show_their_subscription_status_and_filter_by_it(
    capi: CampaignApi,
) -> None:
    campaign_id = await capi.launched()
    subscribed = (await capi.subscribe(campaign_id, {"fullPhoneNumber": capi.number(1)})).json()
    ended = (await capi.subscribe(campaign_id, {"fullPhoneNumber": capi.number(2)})).json()
    await capi.unsubscribe(campaign_id, {"contactId": ended["contactId"]})
    never = await capi.new_contact(fullPhoneNumber=capi.number(3))
    one = await capi.call(
        "GET",
        f"{capi.base}/contacts/{subscribed['contactId']}/",
        CONTACT_PATH,
        params={"subscriptionstatus": campaign_id},
    )
    assert one.json()["subscription"] == {
        "totalCount": 1,
        "inProgressCount": 1,
        "doneCount": 0,
        "unsubbedCount": 0,
        "errorCount": 0,
        "withFailuresCount": 0,
        "activeId": subscribed["runId"],
        "lastId": subscribed["runId"],
    }
    expected = {
        "is": [subscribed["contactId"]],
        "was": [ended["contactId"]],
        "isnot": [ended["contactId"], never["id"]],
    }
    for mode, ids in expected.items():
        listed = await capi.call(
            "GET",
            f"{capi.base}/contacts/",
            CONTACTS_PATH,
            params={"subscriptionstatus": campaign_id, "subscriptionfilter": mode},
        )
        assert [c["id"] for c in listed.json()["contacts"]] == ids, mode
    unsubbed = next(c for c in listed.json()["contacts"] if c["id"] == ended["contactId"])
    assert unsubbed["subscription"]["unsubbedCount"] == 1
    assert unsubbed["subscription"]["errorCount"] == 1
    missing = await capi.call(
        "GET", f"{capi.base}/contacts/", CONTACTS_PATH, params={"subscriptionfilter": "is"}
    )
    assert missing.status_code == 400


# --- legacy Subscription API -------------------------------------------------------------------


async def test_the_legacy_api_takes_one_contact_a_list_or_contact_ids(capi: CampaignApi) -> None:
    campaign_id = await capi.launched()
    group = await capi.new_group("Farmers")
    one = await capi.legacy(campaign_id, {"fullPhoneNumber": capi.number(1)})
    assert one.status_code == 201, one.text
    [created] = one.json()["data"]
    assert created["organizationId"] == capi.org_id
    assert (created["dialingCode"], created["contactType"], created["deleted"]) == (
        "63",
        "NORMAL",
        "",
    )
    assert created["createdDate"].endswith("+08:00")
    assert created["phoneNumber"] == capi.number(1)[2:]
    many = await capi.legacy(
        campaign_id,
        [
            {"firstName": "Juan", "fullPhoneNumber": capi.number(2), "groups": [group]},
            {
                "firstName": "Jane",
                "fullPhoneNumber": capi.number(2),
                "organizationId": capi.org_id,
            },
        ],
    )
    assert many.status_code == 201, many.text
    juan, jane = many.json()["data"]
    assert (juan["firstName"], juan["groups"], jane["firstName"]) == ("Juan", [group], "Jane")
    assert juan["id"] != jane["id"]
    later = await capi.launched()
    by_id = await capi.legacy(later, {"contacts": [{"id": juan["id"]}, {"id": jane["id"]}]})
    assert [c["id"] for c in by_id.json()["data"]] == [juan["id"], jane["id"]]


# A contact of the legacy Subscription API page's response, and its JSON types.
LEGACY_EXAMPLE_CONTACT: dict[str, Any] = {
    "language": "",
    "fullPhoneNumber": "639438249631",
    "firstName": "Jose",
    "organizationId": 853,
    "lastName": "Rizal",
    "contactType": "NORMAL",
    "id": 17620219,
    "deleted": "",
    "carrierId": 952,
    "phoneNumber": "9438249631",
    "groups": [],
    "createdDate": "2015-12-23T17:13:41+08:00",
    "dialingCode": "63",
    "customFields": {},
    "email": "",
}


@pytest.mark.parametrize(
    ("number", "carrier", "carrier_id"),
    [
        ("639438249631", "Smart", 952),  # the page's own example
        ("639171234567", "Globe", 1),
        ("63123456789", "", 0),  # the page's curl example: in no known range
    ],
)
async def test_the_legacy_api_gives_each_operator_a_stable_carrier_id(
    capi: CampaignApi, number: str, carrier: str, carrier_id: int
) -> None:
    campaign_id = await capi.launched()
    response = await capi.legacy(campaign_id, {"fullPhoneNumber": number})
    assert response.status_code == 201, response.text
    [contact] = response.json()["data"]
    assert (contact["carrier"], contact["carrierId"]) == (carrier, carrier_id)
    assert set(LEGACY_EXAMPLE_CONTACT) <= set(contact)
    for name, example in LEGACY_EXAMPLE_CONTACT.items():
        assert type(contact[name]) is type(example), name


async def test_the_legacy_api_reuses_the_newest_contact_and_ignores_its_other_fields(
    capi: CampaignApi,
) -> None:
    campaign_id = await capi.launched()
    await capi.new_contact(fullPhoneNumber=capi.number(4), firstName="Old")
    newest = await capi.new_contact(fullPhoneNumber=capi.number(4), firstName="New")
    reused = await capi.legacy(
        campaign_id,
        {"fullPhoneNumber": capi.number(4), "firstName": "Ignored"},
        "?try_using_existing=newest",
    )
    assert [(c["id"], c["firstName"]) for c in reused.json()["data"]] == [(newest["id"], "New")]


async def test_the_legacy_api_subscribes_a_thousand_contacts_in_one_request(
    capi: CampaignApi,
) -> None:
    campaign_id = await capi.launched()
    batch = [{"fullPhoneNumber": f"63918{capi.org_id % 1000:03d}{i:04d}"} for i in range(1000)]
    response = await capi.legacy(campaign_id, batch)
    assert response.status_code == 201, response.text
    assert len(response.json()["data"]) == 1000
    runs = await capi.call(
        "GET", f"{capi.base}/campaigns/{campaign_id}/runs/", None, params={"limit": 1000}
    )
    assert len(runs.json()["runs"]) == 1000


async def test_the_legacy_api_refuses_bad_batches_whole(
    capi: CampaignApi, make_org: OrgFactory
) -> None:
    campaign_id = await capi.launched()
    cases: list[tuple[Any, int]] = [
        ([{"fullPhoneNumber": capi.number(5)}, {"fullPhoneNumber": "12"}], 400),
        ([{"fullPhoneNumber": capi.number(5)}, {"firstName": "no number"}], 400),
        ([{"fullPhoneNumber": capi.number(5), "organizationId": 1}], 400),
        ({"contacts": [{"id": 999999999}]}, 400),
        ([], 400),
        ("not a contact", 400),
    ]
    for body, status in cases:
        response = await capi.legacy(campaign_id, body)
        assert response.status_code == status, (body, response.text)
        assert set(response.json()) >= {"error", "errorCode"}
    assert (await capi.legacy(campaign_id, None)).status_code == 400
    assert await capi.contact_count() == 0
    assert (await capi.legacy(999999999, {"fullPhoneNumber": capi.number()})).status_code == 404
    other = await make_org()
    foreign = await capi.client.post(
        f"/api/v1/engagements/{campaign_id}/contacts/",
        headers=auth_header(other.token),
        json={"fullPhoneNumber": capi.number()},
    )
    assert foreign.status_code == 404
    bad_token = await capi.client.post(
        f"/api/v1/engagements/{campaign_id}/contacts/",
        headers=auth_header("not-a-token"),
        json={"fullPhoneNumber": capi.number()},
    )
    missing_with_bad_token = await capi.client.post(
        "/api/v1/engagements/999999999/contacts/",
        headers=auth_header("not-a-token"),
        json={"fullPhoneNumber": capi.number()},
    )
    assert (bad_token.status_code, missing_with_bad_token.status_code) == (401, 401)
    assert await capi.contact_count() == 0
