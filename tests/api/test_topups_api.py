"""The top-up routes over HTTP: answers validated against the reference spec, every error path."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from tambuli.db.engine import Database
from tests.api.conftest import OrgApi, auth_header
from tests.conftest import OrgFactory
from tests.support.server import RunningServer
from tests.support.spec import ONE_TOPUP_PATH, TOPUP_PATH, TOPUPS_PATH

GLOBE = "639171234560"
SMART = "639181234560"
FUNDS = 50_000_000


@pytest.fixture
async def rich_api(server: RunningServer, make_org: OrgFactory, http: httpx.AsyncClient) -> OrgApi:
    """An organization with money to spend on airtime."""
    return OrgApi(server, await make_org(balance_micro=FUNDS), http)


async def _top_up(api: OrgApi, body: dict[str, Any]) -> httpx.Response:
    return await api.call("POST", f"{api.base}/topup/", TOPUP_PATH, json=body)


async def _balance(api: OrgApi) -> int:
    return int((await api.balance()).json()["balanceMicro"])


async def test_a_synchronous_topup_answers_200_with_what_was_sent(rich_api: OrgApi) -> None:
    response = await _top_up(rich_api, {"fullPhoneNumber": f"+{SMART}", "maxAmount": 25})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["queued"] is False and body["currency"] == "PHP"
    assert body["amountSent"] == 20 and body["price"] > 0 and body["id"].startswith("TOPUP")
    stored = await rich_api.call("GET", f"{rich_api.base}/topups/{body['id']}/", ONE_TOPUP_PATH)
    record = stored.json()
    assert record["done"] is True and record["success"] is True
    assert record["topupReceived"] == 20 and record["priceCharged"] == body["price"]
    assert record["fullPhoneNumber"] == SMART and record["operator"] == "ph-smart"


async def test_amounts_as_strings_and_a_local_number_with_its_country(rich_api: OrgApi) -> None:
    body = {
        "phoneNumber": "09171234560",
        "phoneNumberCountry": "PH",
        "maxAmount": "30",
        "desiredAmount": "20",
        "clientRef": "survey-7",
    }
    response = await _top_up(rich_api, body)
    assert response.status_code == 200, response.text
    assert response.json()["amountSent"] == 25


async def test_a_test_request_answers_what_would_be_sent_and_charges_nothing(
    rich_api: OrgApi,
) -> None:
    before = await _balance(rich_api)
    response = await _top_up(rich_api, {"fullPhoneNumber": GLOBE, "maxAmount": 25, "test": True})
    assert response.status_code == 200, response.text
    assert response.json()["amountSent"] == 25 and response.json()["test"] is True
    assert await _balance(rich_api) == before
    listed = await rich_api.call("GET", f"{rich_api.base}/topups/", TOPUPS_PATH)
    assert listed.json()["topups"] == []


async def test_an_async_request_answers_202_and_is_carried_out(rich_api: OrgApi) -> None:
    response = await _top_up(rich_api, {"fullPhoneNumber": GLOBE, "maxAmount": 50, "async": True})
    assert response.status_code == 202, response.text
    assert response.json()["queued"] is True
    topup_id = response.json()["id"]
    # The deadline only catches a hang: a busy machine may take its time.
    deadline = time.monotonic() + 60
    while True:
        got = await rich_api.call("GET", f"{rich_api.base}/topups/{topup_id}/", ONE_TOPUP_PATH)
        if got.json()["done"] or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert got.json()["success"] is True


async def test_a_transient_failure_answers_202_queued(rich_api: OrgApi) -> None:
    flaky = GLOBE[:-4] + "0002"
    response = await _top_up(rich_api, {"fullPhoneNumber": flaky, "maxAmount": 10})
    assert response.status_code == 202, response.text
    assert response.json()["queued"] is True


async def test_an_operator_refusal_is_400_and_costs_nothing(rich_api: OrgApi) -> None:
    before = await _balance(rich_api)
    refused = GLOBE[:-4] + "0001"
    response = await _top_up(rich_api, {"fullPhoneNumber": refused, "maxAmount": 10})
    assert response.status_code == 400, response.text
    assert response.json()["errorCode"] == "topup.failed"
    assert await _balance(rich_api) == before
    failed = await rich_api.call(
        "GET", f"{rich_api.base}/topups/", TOPUPS_PATH, params={"failed": "true"}
    )
    assert [t["fullPhoneNumber"] for t in failed.json()["topups"]] == [refused]


@pytest.mark.parametrize(
    "placeholders",
    [
        {"contactId": 0},
        {"contactId": ""},
        {"phoneNumber": "", "phoneNumberCountry": ""},
        {"phoneNumberCountry": "PH"},
        {"desiredAmount": "null"},
        {"desiredAmount": "undefined"},
    ],
)
async def test_empty_placeholders_and_absent_amounts_are_ignored(
    rich_api: OrgApi, placeholders: dict[str, Any]
) -> None:
    body = {"fullPhoneNumber": GLOBE, "maxAmount": 25, "test": True, **placeholders}
    response = await _top_up(rich_api, body)
    assert response.status_code == 200, response.text
    assert response.json()["amountSent"] == 25


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"maxAmount": 10}, "contact.phonenumberform"),
        ({"fullPhoneNumber": GLOBE, "contactId": 1, "maxAmount": 10}, "contact.phonenumberform"),
        ({"fullPhoneNumber": GLOBE}, "request.invalidfield"),
        ({"fullPhoneNumber": GLOBE, "maxAmount": "ten"}, "request.invalidfield"),
        ({"fullPhoneNumber": GLOBE, "maxAmount": -10}, "request.invalidfield"),
        ({"fullPhoneNumber": GLOBE, "maxAmount": True}, "request.invalidfield"),
        ({"fullPhoneNumber": GLOBE, "maxAmount": 10.5}, "request.invalidfield"),
        ({"fullPhoneNumber": GLOBE, "maxAmount": 5}, "request.invalidfield"),
        ({"fullPhoneNumber": GLOBE, "maxAmount": 10, "desiredAmount": 20}, "request.invalidfield"),
        ({"fullPhoneNumber": "12025550123", "maxAmount": 10}, "topup.nooperator"),
        ({"fullPhoneNumber": "not a number", "maxAmount": 10}, "contact.invalidphonenumber"),
        ({"contactId": 999999999, "maxAmount": 10}, "contact.notfound"),
        ({"fullPhoneNumber": GLOBE, "maxAmount": 10, "clientRef": "x" * 1001}, None),
        ({"fullPhoneNumber": GLOBE, "maxAmount": 10, "clientDedup": "a\x00b"}, None),
    ],
)
async def test_bad_requests_are_400_and_change_nothing(
    rich_api: OrgApi, body: dict[str, Any], code: str | None
) -> None:
    before = await _balance(rich_api)
    response = await _top_up(rich_api, body)
    assert response.status_code == 400, response.text
    if code is not None:
        assert response.json()["errorCode"] == code, response.json()
    assert await _balance(rich_api) == before


async def test_an_amount_below_what_is_on_sale_lists_the_operators_amounts(
    rich_api: OrgApi,
) -> None:
    response = await _top_up(rich_api, {"fullPhoneNumber": SMART, "maxAmount": 5})
    assert response.status_code == 400
    assert "20.00" in response.json()["error"] and "25.00" not in response.json()["error"]


async def test_a_balance_short_of_the_price_is_402(api: OrgApi) -> None:
    response = await _top_up(api, {"fullPhoneNumber": GLOBE, "maxAmount": 10})
    assert response.status_code == 402
    assert response.json() == {"error": "insufficient funds"}


async def test_without_a_token_it_is_401(rich_api: OrgApi) -> None:
    response = await rich_api.call(
        "POST",
        f"{rich_api.base}/topup/",
        TOPUP_PATH,
        json={"fullPhoneNumber": GLOBE, "maxAmount": 10},
        authorized=False,
    )
    assert response.status_code == 401


async def test_twenty_identical_requests_with_one_client_dedup_pay_once(
    rich_api: OrgApi,
) -> None:
    before = await _balance(rich_api)
    body = {"fullPhoneNumber": GLOBE, "maxAmount": 25, "clientDedup": "bonus-2026-11"}
    responses = await asyncio.gather(*(_top_up(rich_api, body) for _ in range(20)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [409] * 19, statuses
    first = next(r.json() for r in responses if r.status_code == 200)
    repeats = [r.json() for r in responses if r.status_code == 409]
    assert {r["dedupTopupId"] for r in repeats} == {first["id"]}
    assert repeats[0]["errorCode"] == "topup.clientdedup"
    assert await _balance(rich_api) == before - round(first["price"] * 1_000_000)
    listed = await rich_api.call("GET", f"{rich_api.base}/topups/", TOPUPS_PATH)
    assert len(listed.json()["topups"]) == 1


async def test_lists_page_by_cursor_and_by_page_and_filter(rich_api: OrgApi) -> None:
    for ending in ("1001", "1002", "1003"):
        response = await _top_up(
            rich_api, {"fullPhoneNumber": GLOBE[:-4] + ending, "maxAmount": 10, "clientRef": ending}
        )
        assert response.status_code == 200
    first = await rich_api.call("GET", f"{rich_api.base}/topups/", TOPUPS_PATH, params={"limit": 2})
    page = first.json()
    assert page["paged"] is False and page["hasNextPage"] is True and len(page["topups"]) == 2
    rest = await rich_api.call(
        "GET", f"{rich_api.base}/topups/", TOPUPS_PATH, params={"after": page["nextPage"]}
    )
    assert [t["clientRef"] for t in rest.json()["topups"]] == ["1001"]
    paged = await rich_api.call(
        "GET", f"{rich_api.base}/topups/", TOPUPS_PATH, params={"page": 1, "size": 2}
    )
    assert paged.json()["paged"] is True and len(paged.json()["topups"]) == 2
    found = await rich_api.call(
        "GET", f"{rich_api.base}/topups/", TOPUPS_PATH, params={"search": GLOBE[:-4] + "1002"}
    )
    assert [t["clientRef"] for t in found.json()["topups"]] == ["1002"]
    later = await rich_api.call(
        "GET",
        f"{rich_api.base}/topups/",
        TOPUPS_PATH,
        params={"startDate": "2999-01-01T00:00:00Z"},
    )
    assert later.json()["topups"] == []


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "many"},
        {"size": "-5"},
        {"failed": "maybe"},
        {"startDate": "yesterday"},
        {"after": "TOPUP20260101T000000-1-1"},
    ],
)
async def test_bad_list_parameters_are_400(rich_api: OrgApi, params: dict[str, str]) -> None:
    response = await rich_api.call("GET", f"{rich_api.base}/topups/", TOPUPS_PATH, params=params)
    assert response.status_code == 400, response.text


@pytest.mark.parametrize(
    "params", [{"limit": "0"}, {"limit": "101"}, {"page": "0", "size": "1001"}]
)
async def test_list_limits_and_sizes_out_of_range_are_clamped(
    rich_api: OrgApi, params: dict[str, str]
) -> None:
    response = await rich_api.call("GET", f"{rich_api.base}/topups/", TOPUPS_PATH, params=params)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("topup_id", ["nope", "TOPUP20260101T000000-1-1", "1"])
async def test_an_unknown_topup_is_404(rich_api: OrgApi, topup_id: str) -> None:
    response = await rich_api.call("GET", f"{rich_api.base}/topups/{topup_id}/", ONE_TOPUP_PATH)
    assert response.status_code == 404


async def test_the_legacy_endpoint_answers_with_a_status_word(
    rich_api: OrgApi, http: httpx.AsyncClient
) -> None:
    headers = auth_header(rich_api.org.token)
    body = {
        "organizationId": str(rich_api.org_id),
        "phoneNumber": GLOBE,
        "maxAmount": "25",
        "clientRef": "legacy-1",
    }
    response = await http.post("/v1/airtime-topup", json=body, headers=headers)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["status"] == "Success" and answer["errorMessage"] == ""
    assert answer["amountSent"] == 25 and answer["price"] > 0
    refused = await http.post(
        "/v1/airtime-topup", json={**body, "phoneNumber": GLOBE[:-4] + "0001"}, headers=headers
    )
    assert refused.status_code == 200 and refused.json()["status"] == "Failed"
    assert refused.json()["errorMessage"]
    bad = await http.post("/v1/airtime-topup", json={**body, "maxAmount": "x"}, headers=headers)
    assert bad.status_code == 400
    assert bad.json()["status"] == "Failed" and bad.json()["errorCode"] == "request.invalidfield"
    stranger = await http.post("/v1/airtime-topup", json=body)
    assert stranger.status_code == 401 and stranger.json()["status"] == "Failed"


async def test_the_legacy_endpoint_refuses_another_organizations_id(
    rich_api: OrgApi, make_org: OrgFactory, http: httpx.AsyncClient, db: Database
) -> None:
    other = await make_org(balance_micro=FUNDS)
    body = {"organizationId": other.org_id, "phoneNumber": GLOBE, "maxAmount": "25"}
    response = await http.post(
        "/v1/airtime-topup", json=body, headers=auth_header(rich_api.org.token)
    )
    assert response.status_code == 401
