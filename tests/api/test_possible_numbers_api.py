"""Numbers of a possible length for a known country are accepted even when they are in no range
phonenumbers knows, as the engageSPARK documents' own examples are; an operator's refusal of
one is a permanent failure, refunded."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from tests.api.conftest import OrgApi, auth_header
from tests.conftest import OrgFactory
from tests.support.server import RunningServer
from tests.support.spec import (
    CONTACT_PATH,
    CONTACTS_PATH,
    MESSAGE_PATH,
    SMS_CONTACT_PATH,
    SMS_NUMBER_PATH,
    TOPUP_PATH,
)

FUNDS = 5_000_000
# The spec's example, the reference page's local example, the legacy page's curl example.
EXAMPLES: list[tuple[dict[str, str], str]] = [
    ({"fullPhoneNumber": "631234567890"}, "631234567890"),
    ({"phoneNumber": "1234567890", "phoneNumberCountry": "PH"}, "631234567890"),
    ({"fullPhoneNumber": "63123456789"}, "63123456789"),
]
# A possible Philippine number in no known range, ending as the simulator refuses it.
REFUSED_BY_OPERATOR = "631234560001"


@pytest.fixture
async def rich(server: RunningServer, make_org: OrgFactory, http: httpx.AsyncClient) -> OrgApi:
    """An organization with money for messages and airtime."""
    return OrgApi(server, await make_org(balance_micro=FUNDS), http)


async def _balance(api: OrgApi) -> int:
    return int((await api.balance()).json()["balanceMicro"])


@pytest.mark.parametrize(("given", "digits"), EXAMPLES)
@pytest.mark.parametrize("route", ["phonenumber", "contact"])
async def test_the_documents_example_numbers_are_sent_to(
    rich: OrgApi, route: str, given: dict[str, str], digits: str
) -> None:
    body = {"orgId": rich.org_id, "from": "Tambuli", "message": "Hi", **given}
    template = SMS_NUMBER_PATH if route == "phonenumber" else SMS_CONTACT_PATH
    response = await rich.call("POST", f"/v1/sms/{route}", template, json=body)
    assert response.status_code == 200, response.text
    assert response.json()["to"] == digits


@pytest.mark.parametrize(("given", "digits"), EXAMPLES)
async def test_contacts_are_created_and_updated_with_the_documents_example_numbers(
    rich: OrgApi, given: dict[str, str], digits: str
) -> None:
    created = await rich.call("POST", f"{rich.base}/contacts/", CONTACTS_PATH, json=given)
    assert created.status_code == 200, created.text
    assert (created.json()["fullPhoneNumber"], created.json()["carrier"]) == (digits, "")
    other = await rich.new_contact(fullPhoneNumber="639171234567")
    updated = await rich.call(
        "PUT",
        f"{rich.base}/contacts/{other['id']}/",
        CONTACT_PATH,
        json={"fullPhoneNumber": "631234567890"},
    )
    assert updated.status_code == 200, updated.text
    assert (updated.json()["fullPhoneNumber"], updated.json()["carrier"]) == ("631234567890", "")


@pytest.mark.parametrize(("given", "digits"), EXAMPLES)
async def test_a_topup_to_an_example_number_is_refused_for_its_operator_not_its_number(
    rich: OrgApi, http: httpx.AsyncClient, given: dict[str, str], digits: str
) -> None:
    before = await _balance(rich)
    body = {"maxAmount": 25, **given}
    response = await rich.call("POST", f"{rich.base}/topup/", TOPUP_PATH, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["errorCode"] == "topup.nooperator"
    legacy = await http.post(
        "/v1/airtime-topup",
        json={"organizationId": rich.org_id, "phoneNumber": digits, "maxAmount": "25"},
        headers=auth_header(rich.org.token),
    )
    assert legacy.json()["errorCode"] == "topup.nooperator", legacy.text
    assert await _balance(rich) == before


async def test_a_send_the_operator_refuses_to_such_a_number_fails_for_good_and_is_refunded(
    rich: OrgApi,
) -> None:
    before = await _balance(rich)
    body = {"orgId": rich.org_id, "from": "Tambuli", "message": "Hi"}
    sent = await rich.call(
        "POST",
        "/v1/sms/phonenumber",
        SMS_NUMBER_PATH,
        json={**body, "fullPhoneNumber": REFUSED_BY_OPERATOR},
    )
    assert sent.status_code == 200, sent.text
    path = f"{rich.base}/messages/{sent.json()['messageId']}/"
    deadline = time.monotonic() + 60
    while not (record := (await rich.call("GET", path, MESSAGE_PATH)).json())["done"]:
        assert time.monotonic() < deadline, "the refused message never ended"
        await asyncio.sleep(0.1)
    assert (record["deliveredToTelco"], record["error"]) == (False, "no route")
    assert record["chargedMicro"] == 0
    assert await _balance(rich) == before


@pytest.mark.parametrize("number", ["6391712345678901", "+12345678", "+999123456789"])
async def test_numbers_of_an_impossible_length_or_unknown_country_code_are_refused(
    rich: OrgApi, number: str
) -> None:
    body: dict[str, Any] = {"orgId": rich.org_id, "from": "T", "message": "Hi"}
    sent = await rich.call(
        "POST", "/v1/sms/phonenumber", SMS_NUMBER_PATH, json={**body, "fullPhoneNumber": number}
    )
    assert sent.json()["errorCode"] == "contact.invalidphonenumber"
    created = await rich.create_contact({"fullPhoneNumber": number})
    assert created.json()["errorCode"] == "contact.invalidphonenumber"
