"""The SMS routes over real HTTP: send, dedup, errors, list and get, checked against the spec."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import httpx
import pytest

from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tambuli.messaging.senders import register_sender
from tambuli.organizations.models import NewOrganization
from tests.api.conftest import OrgApi, auth_header, check_against_spec
from tests.conftest import OrgFactory
from tests.support.server import RunningServer
from tests.support.spec import (
    MESSAGE_PATH,
    MESSAGES_PATH,
    SMS_CONTACT_PATH,
    SMS_NUMBER_PATH,
    assert_matches_component,
)

MESSAGE_ID = re.compile(r"^SMS\d{8}T\d{6}-\d+-\d+$")
PRICE = 20_000


class SmsApi(OrgApi):
    """The SMS routes of one funded organization."""

    @property
    def own_number(self) -> str:
        """A number only this organization sends to, so pacing by number never holds it up."""
        return f"63917{self.org_id % 10**6:06d}9"

    async def send(
        self, body: dict[str, Any], route: str = "phonenumber", **kwargs: Any
    ) -> httpx.Response:
        """POST /v1/sms/{route}; orgId and from are filled in unless given."""
        full = {"orgId": self.org_id, "from": "Tambuli", **body}
        template = SMS_NUMBER_PATH if route == "phonenumber" else SMS_CONTACT_PATH
        return await self.call("POST", f"/v1/sms/{route}", template, json=full, **kwargs)

    async def sent(self, body: dict[str, Any], route: str = "phonenumber") -> dict[str, Any]:
        """Send that must succeed; returns the answer."""
        response = await self.send(body, route)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    async def messages(self, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """GET …/messages/ that must succeed."""
        response = await self.call(
            "GET", f"{self.base}/messages/", MESSAGES_PATH, params=params or {}
        )
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    async def message(self, message_id: str) -> httpx.Response:
        """GET …/messages/{id}/"""
        return await self.call("GET", f"{self.base}/messages/{message_id}/", MESSAGE_PATH)


@pytest.fixture
async def funded(make_org: OrgFactory) -> NewOrganization:
    """An organization with 1.00 USD."""
    return await make_org(balance_micro=1_000_000)


@pytest.fixture
def sms(server: RunningServer, funded: NewOrganization, http: httpx.AsyncClient) -> SmsApi:
    """The SMS API of a funded organization."""
    return SmsApi(server, funded, http)


async def test_a_send_answers_every_field_of_the_spec(sms: SmsApi) -> None:
    answer = await sms.sent(
        {
            "fullPhoneNumber": "+639171234567",
            "message": "Magandang umaga! 🌞",
            "clientRef": "visit-12",
            "clientPushURL": "https://hooks.example.org/sms",
        }
    )
    assert MESSAGE_ID.match(answer["messageId"])
    assert answer["messageId"].split("-")[1] == str(sms.org_id)
    assert answer["to"] == "639171234567"
    assert (answer["estimateParts"], answer["estimateMicro"], answer["estimate"]) == (
        1,
        PRICE,
        "0.02",
    )
    assert answer["encoding"] == "ucs2"
    assert answer["nonGsmCharacters"] == [{"position": 17, "character": "🌞"}]
    assert answer["contactId"] == 0
    assert (answer["clientRef"], answer["clientPushURL"], answer["clientDedup"]) == (
        "visit-12",
        "https://hooks.example.org/sms",
        "",
    )
    assert answer["error"] == ""
    balance = (await sms.balance()).json()
    assert balance["balanceMicro"] == 1_000_000 - PRICE


async def test_the_contact_route_takes_each_recipient_form_and_org_id_as_a_string(
    sms: SmsApi,
) -> None:
    contact = await sms.new_contact(firstName="Ana", fullPhoneNumber="639171234567")
    by_id = await sms.sent(
        {
            "orgId": str(sms.org_id),
            "contactId": str(contact["id"]),
            "message": "Hi {{contact.firstName}}",
        },
        "contact",
    )
    assert (by_id["contactId"], by_id["message"]) == (contact["id"], "Hi Ana")
    by_parts = await sms.sent(
        {
            "phoneNumber": "0917 123 4567",
            "phoneNumberCountry": "ph",
            "message": "Hi {{contact.firstName}}",
        },
        "contact",
    )
    assert by_parts["contactId"] == contact["id"]
    legacy = await sms.sent({"to": "639181234567", "message": "new"}, "contact")
    assert legacy["contactId"] not in (0, contact["id"])
    assert legacy["to"] == "639181234567"


@pytest.mark.parametrize(
    "placeholders",
    [
        {"contactId": 0},
        {"contactId": ""},
        {"contactId": "0"},
        {"contactId": None},
        {"to": ""},
        {"phoneNumber": "", "phoneNumberCountry": ""},
        {"phoneNumberCountry": "PH"},
    ],
)
@pytest.mark.parametrize("route", ["contact", "phonenumber"])
async def test_empty_placeholders_next_to_a_number_count_as_absent(
    sms: SmsApi, route: str, placeholders: dict[str, Any]
) -> None:
    if route == "phonenumber" and "contactId" in placeholders:
        return  # contactId is a field of the contact route only
    sent = await sms.sent(
        {"fullPhoneNumber": "639171234567", "message": "x", **placeholders}, route
    )
    assert sent["to"] == "639171234567"


async def test_a_contact_id_next_to_empty_number_placeholders_sends_to_the_contact(
    sms: SmsApi,
) -> None:
    first = await sms.sent({"fullPhoneNumber": "639171234567", "message": "x"}, "contact")
    again = await sms.sent(
        {"contactId": first["contactId"], "to": "", "fullPhoneNumber": "", "message": "y"},
        "contact",
    )
    assert (again["contactId"], again["to"]) == (first["contactId"], "639171234567")


@pytest.mark.parametrize(
    ("route", "body", "code"),
    [
        ("contact", {"message": "x"}, "contact.phonenumberform"),
        ("contact", {"message": "x", "contactId": 0, "to": ""}, "contact.phonenumberform"),
        (
            "phonenumber",
            {"message": "x", "fullPhoneNumber": "639171234567", "phoneNumberCountry": "US"},
            "contact.phonenumberform",
        ),
        (
            "contact",
            {"message": "x", "contactId": 1, "fullPhoneNumber": "639171234567"},
            "contact.phonenumberform",
        ),
        # contactId is not a field of this route: ignored, so no recipient is given.
        ("phonenumber", {"message": "x", "contactId": 1}, "contact.phonenumberform"),
        ("phonenumber", {"message": "x", "fullPhoneNumber": "12"}, "contact.invalidphonenumber"),
        (
            "phonenumber",
            {"message": "x", "to": "639171234567", "fullPhoneNumber": "639181234567"},
            "contact.phonenumberform",
        ),
        ("phonenumber", {"message": "", "fullPhoneNumber": "639171234567"}, "sms.emptymessage"),
        ("phonenumber", {"message": "a" * 1072, "fullPhoneNumber": "639171234567"}, "sms.toolong"),
        (
            "phonenumber",
            {"message": "x", "fullPhoneNumber": "639171234567", "from": "Far too long"},
            "request.invalidfield",
        ),
        (
            "phonenumber",
            {"message": "x", "fullPhoneNumber": "639171234567", "orgId": "abc"},
            "request.invalidfield",
        ),
        (
            "phonenumber",
            {"message": "x", "fullPhoneNumber": "639171234567", "clientPushURL": "ftp://x"},
            "sms.invalidpushurl",
        ),
        ("phonenumber", {"message": "x", "fullPhoneNumber": "+4915123456789"}, "sms.noprice"),
        ("phonenumber", {"message": 5, "fullPhoneNumber": "639171234567"}, "request.invalidfield"),
        ("contact", {"message": "x", "contactId": 999_999_999}, "contact.notfound"),
    ],
)
async def test_bad_sends_are_refused_with_a_code_and_charge_nothing(
    sms: SmsApi, route: str, body: dict[str, Any], code: str
) -> None:
    response = await sms.send(body, route)
    assert response.status_code == 400, response.text
    assert response.json()["errorCode"] == code
    assert (await sms.balance()).json()["balanceMicro"] == 1_000_000
    assert (await sms.messages())["messages"] == []


async def test_a_send_from_another_organizations_registered_sender_is_refused(
    sms: SmsApi, make_org: OrgFactory, db: Database, clock: FakeClock
) -> None:
    owner = await make_org()
    sender = f"Own{owner.org_id % 10**8}"
    await register_sender(db, clock, owner.org_id, sender)
    for route in ("phonenumber", "contact"):
        body = {"fullPhoneNumber": sms.own_number, "message": "x", "from": sender.upper()}
        response = await sms.send(body, route)
        assert response.status_code == 400, response.text
        assert response.json() == {
            "error": f"The sender ID {sender.upper()!r} is registered to another organization",
            "errorCode": "sms.senderowned",
            "context": {"field": "from"},
        }
    assert (await sms.balance()).json()["balanceMicro"] == 1_000_000
    assert (await sms.messages())["messages"] == []


async def test_a_send_without_money_is_402_and_queues_nothing(
    server: RunningServer, org: NewOrganization, http: httpx.AsyncClient
) -> None:
    poor = SmsApi(server, org, http)
    response = await poor.send({"fullPhoneNumber": "639171234567", "message": "x"})
    assert response.status_code == 402
    assert response.json() == {"error": "insufficient funds"}
    assert (await poor.messages())["messages"] == []


async def test_tokens_are_checked_against_the_org_id_in_the_body(
    sms: SmsApi, make_org: OrgFactory, http: httpx.AsyncClient
) -> None:
    other = await make_org(balance_micro=1_000_000)
    body = {"orgId": other.org_id, "from": "X", "message": "x", "fullPhoneNumber": "639171234567"}
    for headers in ({}, auth_header(sms.org.token), {"Authorization": f"Bearer {other.token}"}):
        response = await http.post("/v1/sms/phonenumber", json=body, headers=headers)
        check_against_spec(response, "POST", SMS_NUMBER_PATH)
        assert response.status_code == 401
        assert response.json() == {"error": "Invalid Token"}


async def test_a_repeated_client_dedup_is_409_with_the_first_messages_fields(
    sms: SmsApi,
) -> None:
    body = {"fullPhoneNumber": "639171234567", "message": "once", "clientDedup": "k-1"}
    first = await sms.sent(body)
    again = await sms.send({**body, "message": "twice"})
    assert again.status_code == 409
    repeated = again.json()
    assert repeated["dedupMessageId"] == first["messageId"]
    assert (repeated["error"], repeated["errorCode"]) == (
        "duplicate clientDedup",
        "sms.clientdedup",
    )
    for key in ("messageId", "estimateParts", "estimateMicro", "estimate", "to", "message"):
        assert repeated[key] == first[key]
    assert (await sms.balance()).json()["balanceMicro"] == 1_000_000 - PRICE


async def test_fifty_concurrent_identical_sends_make_one_message(sms: SmsApi) -> None:
    body = {"fullPhoneNumber": "639171234567", "message": "race", "clientDedup": "race-1"}
    answers = await asyncio.gather(*(sms.send(body) for _ in range(50)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] + [409] * 49
    ids = {a.json()["messageId"] for a in answers}
    assert len(ids) == 1
    assert len((await sms.messages())["messages"]) == 1


async def test_messages_are_listed_newest_first_with_a_cursor_that_ignores_new_arrivals(
    sms: SmsApi,
) -> None:
    sent = [
        (await sms.sent({"fullPhoneNumber": "639171234567", "message": f"m{i}"}))["messageId"]
        for i in range(5)
    ]
    first = await sms.messages({"limit": 2})
    assert [m["id"] for m in first["messages"]] == [sent[4], sent[3]]
    assert first["hasNextPage"] is True and first["paged"] is False
    await sms.sent({"fullPhoneNumber": "639171234567", "message": "late"})
    second = await sms.messages({"limit": 2, "after": first["nextPage"]})
    assert [m["id"] for m in second["messages"]] == [sent[2], sent[1]]
    third = await sms.messages({"limit": 2, "after": second["nextPage"]})
    assert [m["id"] for m in third["messages"]] == [sent[0]]
    assert third["hasNextPage"] is False
    paged = await sms.messages({"page": 2, "size": 2})
    assert paged["paged"] is True and "nextPage" not in paged
    assert [m["id"] for m in paged["messages"]] == [sent[3], sent[2]]


async def test_lists_filter_by_direction_failure_search_and_time(sms: SmsApi) -> None:
    ok = await sms.sent({"fullPhoneNumber": sms.own_number, "message": "coconut harvest"})
    refused = await sms.sent({"fullPhoneNumber": "639171230001", "message": "rice"})
    deadline = time.monotonic() + 60
    while (await sms.message(refused["messageId"])).json()["done"] is False:
        assert time.monotonic() < deadline, "the refused message never ended"
        await asyncio.sleep(0.1)
    failed = await sms.messages({"failed": "true"})
    assert [m["id"] for m in failed["messages"]] == [refused["messageId"]]
    assert failed["messages"][0]["error"] == "no route"
    not_failed = await sms.messages({"failed": "false"})
    assert [m["id"] for m in not_failed["messages"]] == [ok["messageId"]]
    assert [m["id"] for m in (await sms.messages({"search": "COCONUT"}))["messages"]] == [
        ok["messageId"]
    ]
    assert (await sms.messages({"dir": "inbound"}))["messages"] == []
    assert len((await sms.messages({"dir": "outbound"}))["messages"]) == 2
    created = (await sms.message(ok["messageId"])).json()["created"]
    assert [m["id"] for m in (await sms.messages({"startDate": created}))["messages"]][-1] == ok[
        "messageId"
    ]
    assert (await sms.messages({"endDate": created}))["messages"] == []


async def test_list_limits_and_sizes_out_of_range_are_clamped_into_range(sms: SmsApi) -> None:
    for _ in range(2):
        await sms.sent({"fullPhoneNumber": sms.own_number, "message": "clamp"})

    async def ids(params: dict[str, Any]) -> list[str]:
        return [m["id"] for m in (await sms.messages(params))["messages"]]

    everything = await ids({})
    assert len(everything) >= 2
    assert await ids({"limit": 0}) == everything[:1]
    assert await ids({"limit": 101}) == everything[:100]
    assert await ids({"size": 0}) == everything[:1]
    assert await ids({"size": 1001, "page": 0}) == everything[:1000]


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "x"},
        {"limit": "-1"},
        {"size": "1.5"},
        {"dir": "up"},
        {"failed": "maybe"},
        {"startDate": "yesterday"},
        {"after": "nonsense"},
    ],
)
async def test_bad_list_parameters_are_400(sms: SmsApi, params: dict[str, Any]) -> None:
    response = await sms.call("GET", f"{sms.base}/messages/", MESSAGES_PATH, params=params)
    assert response.status_code == 400, response.text


async def test_a_message_is_delivered_and_its_receipt_shows_in_get(sms: SmsApi) -> None:
    sent = await sms.sent({"fullPhoneNumber": sms.own_number, "message": "x" * 170})
    deadline = time.monotonic() + 60
    while True:
        record = (await sms.message(sent["messageId"])).json()
        if record["deliveredToPhone"] == "confirmed":
            break
        assert time.monotonic() < deadline, record
        await asyncio.sleep(0.1)
    assert record["done"] and record["deliveredToTelco"]
    assert (record["successPartCount"], record["chargedMicro"], record["chargedHuman"]) == (
        2,
        2 * PRICE,
        "0.04",
    )
    assert record["pricePerPart"] == PRICE
    assert record["direction"] == "egress"
    assert record["successT"].endswith("Z")


async def test_unknown_and_foreign_message_ids_are_404(
    sms: SmsApi, make_org: OrgFactory, server: RunningServer, http: httpx.AsyncClient
) -> None:
    other = SmsApi(server, await make_org(balance_micro=1_000_000), http)
    theirs = await other.sent({"fullPhoneNumber": "639171234567", "message": "x"})
    mine = await sms.sent({"fullPhoneNumber": "639171234567", "message": "x"})
    stamp, _, row = mine["messageId"].rpartition("-")
    for wrong in (
        theirs["messageId"],
        "nonsense",
        f"{stamp}-{int(row) + 10_000}",
        mine["messageId"].replace("SMS2", "SMS1"),
    ):
        response = await sms.message(wrong)
        assert response.status_code == 404, wrong
        assert_matches_component("error_404", response.json())


async def test_search_finds_messages_by_the_contacts_name(sms: SmsApi) -> None:
    contact = await sms.new_contact(
        firstName="Josefina", lastName="Dela Cruz", fullPhoneNumber=sms.own_number
    )
    sent = await sms.sent({"contactId": contact["id"], "message": "See you Monday"}, "contact")
    await sms.sent({"fullPhoneNumber": "639181234567", "message": "Other"})
    for term in ("josefina", "DELA CRUZ", "Josefina Dela"):
        found = await sms.messages({"search": term})
        assert [m["id"] for m in found["messages"]] == [sent["messageId"]], term


@pytest.mark.parametrize(
    "raw",
    [
        b'{"orgId": ORG, "from": "X", "fullPhoneNumber": "639171234567", "message": "a\\u0000b"}',
        b'{"orgId": ORG, "from": "X", "fullPhoneNumber": "639171234567", "message": "a\\ud800b"}',
        b'{"orgId": ORG, "from": "X", "fullPhoneNumber": "639171234567", "message": "x",'
        b' "clientRef": "\\udfff"}',
    ],
)
async def test_text_no_database_can_store_is_refused_not_a_server_error(
    sms: SmsApi, raw: bytes
) -> None:
    body = raw.replace(b"ORG", str(sms.org_id).encode())
    response = await sms.call(
        "POST",
        "/v1/sms/phonenumber",
        SMS_NUMBER_PATH,
        content=body,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert (await sms.messages())["messages"] == []


async def test_send_and_list_paths_answer_with_and_without_the_trailing_slash(
    sms: SmsApi,
) -> None:
    body = {"orgId": sms.org_id, "from": "X", "message": "x", "fullPhoneNumber": sms.own_number}
    for path in ("/v1/sms/phonenumber/", "/v1/sms/contact/"):
        answer = await sms.call("POST", path, None, json=body)
        assert answer.status_code == 200, (path, answer.text)
    listed = await sms.call("GET", f"{sms.base}/messages", MESSAGES_PATH)
    assert listed.status_code == 200
    assert len(listed.json()["messages"]) == 2


async def test_to_and_full_phone_number_may_both_name_the_same_number(sms: SmsApi) -> None:
    answer = await sms.sent(
        {"message": "x", "to": sms.own_number, "fullPhoneNumber": "+" + sms.own_number}
    )
    assert answer["to"] == sms.own_number
