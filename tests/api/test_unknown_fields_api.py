"""Unknown request-body fields over real HTTP: every JSON route ignores them, answers exactly as
without them (checked against the spec), and names them in its log at debug level."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tambuli.db.engine import Database
from tests.api.conftest import OrgApi
from tests.conftest import OrgFactory
from tests.support.server import RunningServer, running_server
from tests.support.spec import (
    CONTACT_PATH,
    CONTACTS_PATH,
    SMS_CONTACT_PATH,
    SMS_NUMBER_PATH,
    SUBSCRIBE_PATH,
    TOPUP_PATH,
)

# Fields real engageSPARK clients were seen sending.
EXTRA: dict[str, Any] = {
    "type": "sms",
    "email": "ana@example.org",
    "contactType": "NORMAL",
    "currency": "USD",
}
EXTRA_NAMES = "type, email, contactType, currency"
NUMBER = "639171234567"
FUNDS = 50_000_000
# Answer fields that differ between two otherwise equal requests.
VOLATILE = frozenset(
    {"id", "messageId", "createdAt", "updatedAt", "lastUseAt", "runId", "deliveryDeadline"}
)


@pytest.fixture(scope="module")
def debug_server(db: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A `tambuli serve` that writes Tambuli's debug records (no workers: nothing here needs
    delivery, and the session server delivers what is queued)."""
    with running_server(
        db.url,
        tmp_path_factory.mktemp("debug-server"),
        extra_env={"TAMBULI_LOG_LEVEL": "debug"},
        extra_args=["--no-workers"],
    ) as running:
        yield running


@pytest.fixture
async def dapi(debug_server: RunningServer, make_org: OrgFactory) -> AsyncIterator[OrgApi]:
    """A funded organization's API on the debug server."""
    async with httpx.AsyncClient(base_url=debug_server.base_url, timeout=15.0) as client:
        yield OrgApi(debug_server, await make_org(balance_micro=FUNDS), client)


def _stable(answer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in answer.items() if k not in VOLATILE}


def _logged(api: OrgApi, path: str, names: str) -> bool:
    # The log names the path as routed, without its trailing slash.
    return f"{path.rstrip('/')} ignored unknown request fields: {names}" in api.server.log()


async def _both(
    api: OrgApi, method: str, path: str, template: str | None, body: dict[str, Any]
) -> tuple[httpx.Response, httpx.Response]:
    """The answers to `body` and to `body` with the extra fields."""
    plain = await api.call(method, path, template, json=body)
    extra = await api.call(method, path, template, json={**body, **EXTRA})
    return plain, extra


@pytest.mark.parametrize(
    ("path", "template"),
    [
        # The send lane answers these two; Litestar the ones with a trailing slash.
        ("/v1/sms/phonenumber", SMS_NUMBER_PATH),
        ("/v1/sms/contact", SMS_CONTACT_PATH),
        ("/v1/sms/phonenumber/", SMS_NUMBER_PATH),
        ("/v1/sms/contact/", SMS_CONTACT_PATH),
    ],
)
async def test_an_sms_with_unknown_fields_is_sent_as_without_them_and_they_are_logged(
    dapi: OrgApi, path: str, template: str
) -> None:
    body = {"orgId": dapi.org_id, "from": "Tambuli", "message": "Hi", "fullPhoneNumber": NUMBER}
    plain, extra = await _both(dapi, "POST", path, template, body)
    assert (plain.status_code, extra.status_code) == (200, 200), extra.text
    assert _stable(extra.json()) == _stable(plain.json())
    assert _logged(dapi, path, EXTRA_NAMES)


async def test_a_contact_created_and_updated_with_unknown_fields_is_as_without_them(
    dapi: OrgApi,
) -> None:
    body = {"fullPhoneNumber": NUMBER, "firstName": "Ana", "groups": []}
    path = f"{dapi.base}/contacts/"
    plain, extra = await _both(dapi, "POST", path, CONTACTS_PATH, body)
    assert (plain.status_code, extra.status_code) == (200, 200), extra.text
    assert _stable(extra.json()) == _stable(plain.json())
    assert _logged(dapi, path, EXTRA_NAMES)
    one = f"{dapi.base}/contacts/{plain.json()['id']}/"
    other = f"{dapi.base}/contacts/{extra.json()['id']}/"
    first = await dapi.call("PUT", one, CONTACT_PATH, json={"lastName": "Cruz"})
    second = await dapi.call("PUT", other, CONTACT_PATH, json={"lastName": "Cruz", **EXTRA})
    assert (first.status_code, second.status_code) == (200, 200), second.text
    assert _stable(second.json()) == _stable(first.json())
    assert _logged(dapi, other, EXTRA_NAMES)


async def test_a_topup_with_unknown_fields_is_planned_as_without_them(dapi: OrgApi) -> None:
    body = {"fullPhoneNumber": NUMBER, "maxAmount": 25, "test": True}
    path = f"{dapi.base}/topup/"
    plain, extra = await _both(dapi, "POST", path, TOPUP_PATH, body)
    assert (plain.status_code, extra.status_code) == (200, 200), extra.text
    assert extra.json() == plain.json()
    assert _logged(dapi, path, EXTRA_NAMES)


async def test_a_subscription_with_unknown_fields_here_and_in_its_contact_is_made(
    dapi: OrgApi,
) -> None:
    definition = {"name": "Tips", "kind": "blast", "steps": [{"message": "Tip"}], "colour": "red"}
    created = await dapi.call("POST", f"{dapi.base}/campaigns/", None, json=definition)
    assert created.status_code == 201, created.text
    assert _logged(dapi, f"{dapi.base}/campaigns/", "colour")
    campaign_id = created.json()["campaignId"]
    launched = await dapi.call("POST", f"{dapi.base}/campaigns/{campaign_id}/launch", None)
    assert launched.status_code == 200, launched.text
    path = f"{dapi.base}/engagements/{campaign_id}/subscribe"
    body = {
        "fullPhoneNumber": NUMBER,
        "contact": {"firstName": "Ana", "contactType": "NORMAL"},
        "delay": {"unit": "day", "value": 1, "time": "09:00", "note": "after the visit"},
        **EXTRA,
    }
    response = await dapi.call("POST", path, SUBSCRIBE_PATH, json=body)
    assert response.status_code == 200, response.text
    assert _logged(dapi, path, f"contact.contactType, delay.note, {EXTRA_NAMES}")
    contact = await dapi.get_contact(response.json()["contactId"])
    assert contact.json()["firstName"] == "Ana"


async def test_the_legacy_subscription_and_group_routes_ignore_unknown_fields(
    dapi: OrgApi,
) -> None:
    group = await dapi.call("POST", f"{dapi.base}/groups/", None, json={"name": "C", "color": "r"})
    assert group.status_code == 200, group.text
    assert _logged(dapi, f"{dapi.base}/groups/", "color")
    definition = {"name": "Tips", "kind": "blast", "steps": [{"message": "Tip"}]}
    created = await dapi.call("POST", f"{dapi.base}/campaigns/", None, json=definition)
    campaign_id = created.json()["campaignId"]
    await dapi.call("POST", f"{dapi.base}/campaigns/{campaign_id}/launch", None)
    path = f"/api/v1/engagements/{campaign_id}/contacts/"
    body = [{"fullPhoneNumber": NUMBER}, {"fullPhoneNumber": NUMBER, "contactType": "NORMAL"}]
    response = await dapi.call("POST", path, None, json=body)
    assert response.status_code == 201, response.text
    assert [c["fullPhoneNumber"] for c in response.json()["data"]] == [NUMBER, NUMBER]
    assert _logged(dapi, path, "contacts[1].contactType")


async def test_at_the_default_level_ignored_fields_are_not_logged(api: OrgApi) -> None:
    response = await api.create_contact({"fullPhoneNumber": NUMBER, **EXTRA})
    assert response.status_code == 200, response.text
    assert "ignored unknown request fields" not in api.server.log()
