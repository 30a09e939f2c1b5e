"""The WhatsApp routes over real HTTP: send, errors, dedup, list and get, checked against the spec.

The server's own workers deliver through the WhatsApp simulator on real time; the rules of
delivery are tested on a fake clock in tests/services/test_whatsapp_delivery.py.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tambuli.organizations.models import NewOrganization
from tambuli.whatsapp import numbers
from tests.api.conftest import OrgApi
from tests.conftest import OrgFactory
from tests.support.polling import wait_for_async
from tests.support.server import RunningServer
from tests.support.spec import WHATSAPP_CONTACT_PATH, WHATSAPP_LIST_PATH, WHATSAPP_ONE_PATH

MESSAGE_ID = re.compile(r"^WA\d{8}T\d{6}-\d+-\d+$")
TEMPLATE = {"name": "order_ready", "language": "en", "parameters": ["Ana", "42"]}


class WhatsAppApi(OrgApi):
    """The WhatsApp routes of one funded organization with a simulated business number."""

    @property
    def number(self) -> str:
        """The organization's business number."""
        return f"1556{self.org_id:07d}"

    def contact_number(self, ending: str = "0000") -> str:
        """A number only this organization writes to, ending as the simulator needs."""
        return f"63917{self.org_id % 1000:03d}{ending}"

    async def send(self, body: dict[str, Any], **kwargs: Any) -> httpx.Response:
        """POST /v1/whatsapp/contact; orgId and from are filled in unless given."""
        full = {"orgId": self.org_id, "from": self.number, "message": "", **body}
        return await self.call(
            "POST", "/v1/whatsapp/contact", WHATSAPP_CONTACT_PATH, json=full, **kwargs
        )

    async def sent(self, body: dict[str, Any]) -> dict[str, Any]:
        """Send that must succeed; returns the answer."""
        response = await self.send(body)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    async def messages(self, params: dict[str, Any] | None = None) -> httpx.Response:
        """GET …/whatsapp/"""
        return await self.call(
            "GET", f"{self.base}/whatsapp/", WHATSAPP_LIST_PATH, params=params or {}
        )

    async def message(self, message_id: str) -> httpx.Response:
        """GET …/whatsapp/{id}/"""
        return await self.call("GET", f"{self.base}/whatsapp/{message_id}/", WHATSAPP_ONE_PATH)


async def _with_number(
    db: Database,
    clock: FakeClock,
    server: RunningServer,
    org: NewOrganization,
    http: httpx.AsyncClient,
) -> WhatsAppApi:
    api = WhatsAppApi(server, org, http)
    await numbers.add_number(db, clock, org.org_id, api.number, "pn", "")
    await numbers.add_template(
        db, clock, api.number, "order_ready", "en", "Hi {{1}}, order {{2}} is ready"
    )
    return api


@pytest.fixture
async def wa(
    db: Database,
    clock: FakeClock,
    server: RunningServer,
    make_org: OrgFactory,
    http: httpx.AsyncClient,
) -> WhatsAppApi:
    """The WhatsApp API of an organization with 1.00 USD."""
    return await _with_number(db, clock, server, await make_org(balance_micro=1_000_000), http)


async def test_a_template_message_is_sent_delivered_and_read(wa: WhatsAppApi) -> None:
    to = wa.contact_number("0008")
    answer = await wa.sent({"fullPhoneNumber": f"+{to}", "content": TEMPLATE, "clientRef": "r"})
    assert MESSAGE_ID.match(answer["messageId"])
    assert answer["to"] == to and answer["contactId"] > 0
    assert answer["content"]["body"] == "Hi Ana, order 42 is ready"
    assert answer["deliveryDeadline"].endswith("Z")

    async def read() -> dict[str, Any] | None:
        found = (await wa.message(answer["messageId"])).json()
        return found if found.get("read") else None

    record = await wait_for_async(read, seconds=15)
    assert record["done"] and record["deliveredToPhone"] == "confirmed"
    assert record["charged"] == 10_000 and record["message"] == "Hi Ana, order 42 is ready"
    assert record["readAt"] and record["successT"] and record["direction"] == "egress"


async def test_the_rules_are_refused_with_their_error_codes(wa: WhatsAppApi) -> None:
    to = wa.contact_number()
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"fullPhoneNumber": to, "message": "Hi"}, 400, "whatsapp.templaterequired"),
        (
            {"fullPhoneNumber": to, "from": "15550000000", "content": TEMPLATE},
            400,
            "whatsapp.unknownsender",
        ),
        (
            {"fullPhoneNumber": to, "content": {"name": "x", "language": "en"}},
            400,
            "whatsapp.unknowntemplate",
        ),
        (
            {"fullPhoneNumber": to, "content": {**TEMPLATE, "parameters": []}},
            400,
            "whatsapp.invalidcontent",
        ),
        (
            {"fullPhoneNumber": to, "content": TEMPLATE, "image": "nope.jpg"},
            400,
            "whatsapp.invalidmedia",
        ),
        ({"content": TEMPLATE}, 400, "contact.phonenumberform"),
    ]
    for body, status, code in cases:
        response = await wa.send(body)
        assert response.status_code == status, (body, response.text)
        assert response.json()["errorCode"] == code, body
    assert (await wa.messages()).json()["messages"] == []


async def test_a_short_balance_is_402(
    db: Database,
    clock: FakeClock,
    server: RunningServer,
    make_org: OrgFactory,
    http: httpx.AsyncClient,
) -> None:
    poor = await _with_number(db, clock, server, await make_org(balance_micro=1), http)
    response = await poor.send({"fullPhoneNumber": poor.contact_number(), "content": TEMPLATE})
    assert response.status_code == 402, response.text
    assert response.json() == {"error": "insufficient funds"}


async def test_a_repeated_client_dedup_is_409_with_the_first_message(wa: WhatsAppApi) -> None:
    body = {"fullPhoneNumber": wa.contact_number("0004"), "content": TEMPLATE, "clientDedup": "d"}
    first = await wa.sent(body)
    again = await wa.send(body)
    assert again.status_code == 409
    assert again.json()["messageId"] == first["messageId"]
    assert again.json()["errorCode"] == "sms.clientdedup"


async def test_list_filters_and_pages_like_the_sms_list(wa: WhatsAppApi) -> None:
    sent = [
        await wa.sent({"fullPhoneNumber": wa.contact_number(e), "content": TEMPLATE})
        for e in ("0004", "0001", "0004")
    ]

    async def failed_one() -> list[Any] | None:
        found = (await wa.messages({"failed": "true"})).json()["messages"]
        return found or None

    [failed] = await wait_for_async(failed_one, seconds=15)
    assert failed["id"] == sent[1]["messageId"] and failed["error"]
    first = (await wa.messages({"limit": "2"})).json()
    assert [m["id"] for m in first["messages"]] == [sent[2]["messageId"], sent[1]["messageId"]]
    assert first["hasNextPage"] and not first["paged"]
    rest = (await wa.messages({"limit": "2", "after": first["nextPage"]})).json()
    assert [m["id"] for m in rest["messages"]] == [sent[0]["messageId"]]
    paged = (await wa.messages({"page": "2", "size": "2"})).json()
    assert paged["paged"] and [m["id"] for m in paged["messages"]] == [sent[0]["messageId"]]
    assert (await wa.messages({"dir": "inbound"})).json()["messages"] == []
    assert len((await wa.messages({"search": "order 42"})).json()["messages"]) == 3
    assert (await wa.messages({"dir": "sideways"})).status_code == 400


async def test_other_organizations_get_404(
    wa: WhatsAppApi,
    db: Database,
    clock: FakeClock,
    server: RunningServer,
    make_org: OrgFactory,
    http: httpx.AsyncClient,
) -> None:
    answer = await wa.sent({"fullPhoneNumber": wa.contact_number("0004"), "content": TEMPLATE})
    other = await _with_number(db, clock, server, await make_org(balance_micro=1_000_000), http)
    assert (await other.message(answer["messageId"])).status_code == 404
    assert (await other.messages()).json()["messages"] == []
    assert (await wa.message("WA20200101T000000-1-1")).status_code == 404
    # Another organization's business number is not ours to send from.
    response = await other.send(
        {"from": wa.number, "fullPhoneNumber": other.contact_number(), "content": TEMPLATE}
    )
    assert response.json()["errorCode"] == "whatsapp.unknownsender"
