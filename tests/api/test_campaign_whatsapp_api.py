"""Campaigns with WhatsApp steps over real HTTP: saved and shown as given, refused with
engageSPARK-style errors naming the step."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tambuli.organizations.models import NewOrganization
from tambuli.whatsapp import numbers
from tests.api.conftest import OrgApi
from tests.conftest import OrgFactory
from tests.support.server import RunningServer

TEMPLATE = {"name": "order_ready", "language": "en", "parameters": ["{{contact.firstName}}", "7"]}


@pytest.fixture
async def wapi(server: RunningServer, make_org: OrgFactory, http: httpx.AsyncClient) -> OrgApi:
    """A funded organization's API."""
    return OrgApi(server, await make_org(balance_micro=1_000_000), http)


async def _business_number(db: Database, org: NewOrganization) -> str:
    number = f"1556{org.org_id % 10**7:07d}"
    clock = FakeClock()
    await numbers.add_number(db, clock, org.org_id, number, f"pn-{org.org_id}", "")
    await numbers.add_template(db, clock, number, "order_ready", "en", "Hi {{1}}, order {{2}}")
    return number


def _blast(step: dict[str, Any]) -> dict[str, Any]:
    return {"name": "WhatsApp blast", "kind": "blast", "steps": [step]}


async def test_a_whatsapp_step_is_saved_and_shown_as_given(wapi: OrgApi, db: Database) -> None:
    number = await _business_number(db, wapi.org)
    step = {
        "channel": "whatsapp",
        "from": number,
        "message": {"default": "Hi {{contact.firstName}}", "fil": "Kumusta"},
        "template": TEMPLATE,
    }
    created = await wapi.call("POST", f"{wapi.base}/campaigns/", None, json=_blast(step))
    assert created.status_code == 201, created.text
    assert created.json()["campaign"]["steps"] == [step]
    campaign_id = created.json()["campaignId"]
    launched = await wapi.call("POST", f"{wapi.base}/campaigns/{campaign_id}/launch", None)
    assert launched.status_code == 200, launched.text  # no SMS sender needed


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"from": "15550000000"}, "whatsapp.unknownsender", "steps[0].from"),
        ({"template": {**TEMPLATE, "name": "nope"}}, "whatsapp.unknowntemplate", None),
        ({"template": {**TEMPLATE, "parameters": []}}, "whatsapp.invalidcontent", None),
        ({"imageFile": "nothing.jpg"}, "whatsapp.invalidmedia", "steps[0]"),
        ({"template": None}, "request.invalidfield", "steps[0].message"),
    ],
)
async def test_a_bad_whatsapp_step_is_a_400_naming_it_and_nothing_is_saved(
    wapi: OrgApi, db: Database, change: dict[str, Any], code: str, field: str | None
) -> None:
    number = await _business_number(db, wapi.org)
    step = {"channel": "whatsapp", "from": number, "template": TEMPLATE, **change}
    step = {k: v for k, v in step.items() if v is not None}
    refused = await wapi.call("POST", f"{wapi.base}/campaigns/", None, json=_blast(step))
    assert refused.status_code == 400, refused.text
    body = refused.json()
    assert body["errorCode"] == code and body["error"].startswith("steps[0]")
    if field is not None:
        assert body["context"]["field"] == field
    listed = await wapi.call("GET", f"{wapi.base}/campaigns/", None)
    assert listed.json()["campaigns"] == []
