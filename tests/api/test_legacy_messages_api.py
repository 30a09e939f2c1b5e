"""The legacy routes published clients still call, over real HTTP: the bulk send
(POST /api/v1/messages/sms) and GET /api/v1/organizations/{id}/available-balance."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tambuli.billing import service as billing
from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tambuli.organizations.models import NewOrganization
from tests.api.conftest import OrgApi, auth_header
from tests.conftest import OrgFactory
from tests.support.server import RunningServer
from tests.support.spec import MESSAGE_PATH, SMS_NUMBER_PATH, assert_matches_spec

PRICE = 20_000
BULK_PATH = "/api/v1/messages/sms"


class LegacyApi(OrgApi):
    """The legacy routes of one organization."""

    def number(self, ending: int) -> str:
        """A number of this organization's own, so pacing by number never holds it up."""
        return f"63917{self.org_id % 10**5:05d}{ending:02d}"

    async def bulk(self, body: dict[str, Any], **kwargs: Any) -> httpx.Response:
        """POST /api/v1/messages/sms; organization_id and sender_id are filled in unless given."""
        full = {"organization_id": self.org_id, "sender_id": "Tambuli", **body}
        return await self.call("POST", BULK_PATH, None, json=full, **kwargs)

    async def message(self, message_id: str) -> dict[str, Any]:
        """GET …/messages/{id}/ that must succeed (checked against the spec)."""
        response = await self.call("GET", f"{self.base}/messages/{message_id}/", MESSAGE_PATH)
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found

    async def available(self, org_text: str | None = None, **kwargs: Any) -> httpx.Response:
        """GET /api/v1/organizations/{id}/available-balance."""
        path = f"/api/v1/organizations/{org_text or self.org_id}/available-balance"
        return await self.call("GET", path, None, **kwargs)

    async def balance_micro(self) -> int:
        """The balance as balance.json shows it, in micro-USD."""
        return int((await self.balance()).json()["balanceMicro"])


@pytest.fixture
async def funded(make_org: OrgFactory) -> NewOrganization:
    """An organization with a dollar."""
    return await make_org(balance_micro=1_000_000)


@pytest.fixture
def legacy(server: RunningServer, funded: NewOrganization, http: httpx.AsyncClient) -> LegacyApi:
    """The legacy routes of a funded organization."""
    return LegacyApi(server, funded, http)


def assert_error(response: httpx.Response, status: int, code: str | None) -> None:
    """An engageSPARK-style error: this status, an `error`, and this errorCode (None: none)."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]
    assert body.get("errorCode") == code, body


# --- bulk send to numbers ------------------------------------------------------------------


async def test_a_bulk_send_to_numbers_queues_one_message_per_distinct_number(
    legacy: LegacyApi,
) -> None:
    first, second = legacy.number(1), legacy.number(2)
    response = await legacy.bulk(
        {
            "recipient_type": "mobile_number",
            "mobile_numbers": [first, f"+{second}", first],
            "message": "Meeting at 9",
        }
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert [(e["status"], e["mobile_number"], e["contact_id"]) for e in answer] == [
        ("Success", first, 0),
        ("Success", second, 0),
    ]
    assert all(e["error"] == "" and e["errorCode"] == "" for e in answer)
    for entry in answer:
        stored = await legacy.message(entry["message_id"])
        assert (stored["recipient"], stored["message"], stored["sender"]) == (
            entry["mobile_number"],
            "Meeting at 9",
            "Tambuli",
        )
    assert await legacy.balance_micro() == 1_000_000 - 2 * PRICE


async def test_numbers_as_integers_or_inside_a_string_are_read_as_published_clients_send_them(
    legacy: LegacyApi,
) -> None:
    as_string = await legacy.bulk(
        {
            "recipient_type": "mobile_number",
            "mobile_numbers": f'["{legacy.number(3)}","{legacy.number(4)}"]',
            "message": "Hello",
        }
    )
    as_integers = await legacy.bulk(
        {
            "recipient_type": "mobile_number",
            "mobile_numbers": [int(legacy.number(5))],
            "message": "Hello",
        }
    )
    as_commas = await legacy.bulk(
        {
            "recipient_type": "mobile_number",
            "mobile_numbers": f"{legacy.number(11)}, {legacy.number(12)}",
            "message": "Hello",
        }
    )
    assert [e["status"] for e in as_string.json()] == ["Success", "Success"]
    assert [e["mobile_number"] for e in as_integers.json()] == [legacy.number(5)]
    assert [e["mobile_number"] for e in as_commas.json()] == [legacy.number(11), legacy.number(12)]


async def test_a_form_body_labelled_json_is_read_like_the_json_body(legacy: LegacyApi) -> None:
    form = (
        f"organization_id={legacy.org_id}&recipient_type=mobile_number"
        f"&mobile_numbers%5B0%5D={legacy.number(6)}&mobile_numbers%5B1%5D={legacy.number(7)}"
        "&message=Sample+message&sender_id=Tambuli"
    )
    response = await legacy.call(
        "POST",
        BULK_PATH,
        None,
        content=form,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert [e["mobile_number"] for e in response.json()] == [legacy.number(6), legacy.number(7)]
    stored = await legacy.message(response.json()[0]["message_id"])
    assert stored["message"] == "Sample message"


async def test_a_bad_number_fails_alone_and_the_others_are_sent(legacy: LegacyApi) -> None:
    response = await legacy.bulk(
        {
            "recipient_type": "mobile_number",
            "mobile_numbers": ["12345", legacy.number(8)],
            "message": "Hello",
        }
    )
    assert response.status_code == 200, response.text
    bad, good = response.json()
    assert (bad["status"], bad["mobile_number"], bad["message_id"]) == ("Failed", "12345", "")
    assert bad["errorCode"] == "contact.invalidphonenumber" and bad["error"]
    assert bad["errorMessage"] == bad["error"]
    assert good["status"] == "Success" and good["message_id"]
    assert await legacy.balance_micro() == 1_000_000 - PRICE


async def test_a_phonenumber_shaped_body_at_the_legacy_url_is_answered_as_that_route_does(
    legacy: LegacyApi,
) -> None:
    # One published client posts the /v1/sms/phonenumber body to the legacy URL.
    body = {"orgId": legacy.org_id, "to": legacy.number(9), "from": "COOP", "message": "Hello"}
    response = await legacy.call("POST", BULK_PATH, None, json=body)
    assert response.status_code == 200, response.text
    assert_matches_spec("POST", SMS_NUMBER_PATH, 200, response.json())
    stored = await legacy.message(response.json()["messageId"])
    assert (stored["recipient"], stored["sender"]) == (legacy.number(9), "COOP")
    # A field of the other shape beside it is ignored, like any field the route does not read.
    extra = await legacy.call("POST", BULK_PATH, None, json={**body, "mobile_numbers": []})
    assert extra.status_code == 200, extra.text


# --- bulk send to contacts -----------------------------------------------------------------


async def test_a_bulk_send_to_contact_ids_personalises_each_message(
    legacy: LegacyApi, make_org: OrgFactory, http: httpx.AsyncClient, server: RunningServer
) -> None:
    ana = await legacy.new_contact(fullPhoneNumber=legacy.number(10), firstName="Ana")
    ben = await legacy.new_contact(fullPhoneNumber=legacy.number(11), firstName="Ben")
    stranger = await LegacyApi(server, await make_org(), http).new_contact(
        fullPhoneNumber="639171239999"
    )
    response = await legacy.bulk(
        {
            "recipient_type": "contact_id",
            # As a string holding a list of strings, the way one published client sends it.
            "contact_ids": f'["{ana["id"]}","{ben["id"]}","{stranger["id"]}","999999999"]',
            "message": "Hi {{contact.firstName}}",
        }
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert [(e["status"], e["contact_id"]) for e in answer] == [
        ("Success", ana["id"]),
        ("Success", ben["id"]),
        ("Failed", stranger["id"]),
        ("Failed", 999999999),
    ]
    assert [e["mobile_number"] for e in answer[:2]] == [legacy.number(10), legacy.number(11)]
    # Another organization's contact looks exactly like one that does not exist.
    assert answer[2]["errorCode"] == answer[3]["errorCode"] == "contact.notfound"
    assert answer[2]["mobile_number"] == ""
    texts = [(await legacy.message(e["message_id"]))["message"] for e in answer[:2]]
    assert texts == ["Hi Ana", "Hi Ben"]
    assert (await legacy.message(answer[0]["message_id"]))["contactId"] == ana["id"]
    assert await legacy.balance_micro() == 1_000_000 - 2 * PRICE


# --- refusals of the whole request ---------------------------------------------------------


async def test_a_request_the_balance_does_not_cover_is_refused_whole_and_queues_nothing(
    make_org: OrgFactory, server: RunningServer, http: httpx.AsyncClient
) -> None:
    poor = LegacyApi(server, await make_org(balance_micro=PRICE), http)
    response = await poor.bulk(
        {
            "recipient_type": "mobile_number",
            "mobile_numbers": [poor.number(1), poor.number(2)],
            "message": "Hello",
        }
    )
    assert_error(response, 402, None)
    assert await poor.balance_micro() == PRICE
    listed = await poor.call("GET", f"{poor.base}/messages/", None)
    assert listed.json()["messages"] == []


async def test_concurrent_bulk_sends_never_overdraw_nor_half_send(
    make_org: OrgFactory, server: RunningServer, http: httpx.AsyncClient
) -> None:
    # Money for 6 requests of 5 messages; 10 arrive at once.
    api = LegacyApi(server, await make_org(balance_micro=30 * PRICE), http)
    bodies = [
        {
            "recipient_type": "mobile_number",
            "mobile_numbers": [api.number(10 * request + n) for n in range(5)],
            "message": "Hello",
        }
        for request in range(10)
    ]
    answers = await asyncio.gather(*(api.bulk(body) for body in bodies))
    assert sorted(a.status_code for a in answers) == [200] * 6 + [402] * 4
    for answer in answers:
        if answer.status_code == 200:
            assert [e["status"] for e in answer.json()] == ["Success"] * 5
    assert await api.balance_micro() == 0
    listed = await api.call("GET", f"{api.base}/messages/", None, params={"size": 100})
    assert len(listed.json()["messages"]) == 30


async def test_tokens_organizations_and_bodies_are_checked_before_anything_is_sent(
    legacy: LegacyApi, make_org: OrgFactory
) -> None:
    good = {"recipient_type": "mobile_number", "mobile_numbers": [legacy.number(20)]}
    other = await make_org()
    cases: list[tuple[dict[str, Any], dict[str, Any], int, str | None]] = [
        ({**good, "message": "x"}, {"authorized": False}, 401, None),
        ({**good, "message": "x"}, {"headers": {"Authorization": "Token nope"}}, 401, None),
        ({**good, "message": "x", "organization_id": other.org_id}, {}, 401, None),
        ({**good, "message": "x", "organization_id": 999999999}, {}, 401, None),
        ({**good, "message": "x", "organization_id": "abc"}, {}, 400, "request.invalidfield"),
        ({**good, "message": "x", "mobile_numbers": []}, {}, 400, "request.invalidfield"),
        ({**good, "message": "x", "mobile_numbers": "[]"}, {}, 400, "request.invalidfield"),
        (
            {**good, "message": "x", "recipient_type": "phone_number"},
            {},
            400,
            "request.invalidfield",
        ),
        ({"recipient_type": "contact_id", "message": "x"}, {}, 400, "request.invalidfield"),
        ({**good, "message": "   "}, {}, 400, "sms.emptymessage"),
        ({**good, "message": "x", "sender_id": "Far too long a name"}, {}, 400, None),
        ({**good, "message": "x" * 1200}, {}, 400, "sms.toolong"),
    ]
    for body, options, status, code in cases:
        response = await legacy.bulk(body, **options)
        assert response.status_code == status, (body, response.text)
        refusal = response.json()
        assert refusal["error"], body
        # As on the legacy top-up: the status and message under their legacy names too.
        assert (refusal["status"], refusal["errorMessage"]) == ("Failed", refusal["error"])
        if code is not None:
            assert response.json()["errorCode"] == code, (body, response.text)
    for raw in (b"", b"not json", b"[1, 2]"):
        response = await legacy.call(
            "POST", BULK_PATH, None, content=raw, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400, (raw, response.text)
        assert response.json()["errorCode"].startswith("request."), response.text
    assert await legacy.balance_micro() == 1_000_000


async def test_without_sender_id_or_a_default_sender_the_servers_default_sender_is_used(
    legacy: LegacyApi,
) -> None:
    body = {"recipient_type": "mobile_number", "mobile_numbers": [legacy.number(30)]}
    response = await legacy.call(
        "POST", BULK_PATH, None, json={"organization_id": legacy.org_id, "message": "x", **body}
    )
    assert response.status_code == 200, response.text
    stored = await legacy.message(response.json()[0]["message_id"])
    assert stored["sender"] == "Tambuli"


# --- available balance ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("credit_micro", "shown"),
    [(0, "0.00"), (3_140_000, "3.14"), (9_999, "0.009999"), (2_000_000_000, "2000.00")],
)
async def test_the_available_balance_is_a_decimal_string_of_usd(
    api: OrgApi,
    db: Database,
    clock: FakeClock,
    server: RunningServer,
    http: httpx.AsyncClient,
    credit_micro: int,
    shown: str,
) -> None:
    if credit_micro:
        await billing.credit_balance(db, clock, api.org_id, credit_micro, "test funds")
    legacy = LegacyApi(server, api.org, http)
    response = await legacy.available()
    assert response.status_code == 200, response.text
    assert response.json() == {"balance": shown}


async def test_the_available_balance_follows_what_a_send_reserved(legacy: LegacyApi) -> None:
    await legacy.bulk(
        {"recipient_type": "mobile_number", "mobile_numbers": [legacy.number(40)], "message": "x"}
    )
    assert (await legacy.available()).json() == {"balance": "0.98"}


async def test_the_available_balance_of_another_or_no_organization_is_refused(
    legacy: LegacyApi, make_org: OrgFactory
) -> None:
    other = await make_org()
    assert_error(await legacy.available(str(other.org_id)), 401, None)
    assert_error(await legacy.available("999999999"), 401, None)
    assert (await legacy.available("abc")).status_code == 404
    assert_error(await legacy.available(authorized=False), 401, None)
    assert_error(await legacy.available(headers=auth_header("not-a-token")), 401, None)
