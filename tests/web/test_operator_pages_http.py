"""The operator pages over real HTTP: only operators see them, credits are exact, new
organizations and prices, channels with their live state, and unmatched inbound SMS."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable

import httpx

from tambuli.billing import service as billing
from tambuli.campaigns.replies import find_runs_awaiting_reply_within
from tambuli.channels.base import InboundSms
from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tambuli.messaging import pricing
from tambuli.messaging.inbound import record_inbound
from tambuli.organizations import users
from tambuli.organizations.models import Role
from tests.conftest import OrgFactory
from tests.support.server import RunningServer
from tests.web.console_client import ConsoleBrowser, Person, make_person

Opener = Callable[[], ConsoleBrowser]
OPERATOR_PAGES = ("/operator/orgs", "/operator/prices", "/operator/channels", "/operator/inbound")


async def _operator(db: Database, clock: FakeClock, org_id: int) -> Person:
    person = await make_person(db, clock, org_id, Role.VIEWER)
    await users.set_operator(db, person.user_id, True)
    return person


def _balance_status(server: RunningServer, org_id: int, token: str) -> int:
    return httpx.get(
        f"{server.base_url}/v1/organizations/{org_id}/balance.json",
        headers={"Authorization": f"Token {token}"},
    ).status_code


def _signed_in(open_console: Opener, person: Person) -> ConsoleBrowser:
    browser = open_console()
    assert browser.sign_in(person).status_code == 303
    return browser


async def test_operator_pages_answer_404_to_everyone_but_operators(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org = await make_org()
    owner = _signed_in(open_console, await make_person(db, clock, org.org_id, Role.OWNER))
    for path in OPERATOR_PAGES:
        assert owner.page(path).status_code == 404, path
    refused = owner.submit(
        f"/orgs/{org.org_id}/", "/operator/orgs/credit", {"org_id": str(org.org_id), "amount": "9"}
    )
    assert refused.status_code == 404
    assert (await billing.get_balance(db, org.org_id)).balance_micro == 0
    assert "/operator/" not in owner.page(f"/orgs/{org.org_id}/").text
    signed_out = open_console()
    assert signed_out.page("/operator/orgs").status_code == 303
    operator = _signed_in(open_console, await _operator(db, clock, org.org_id))
    for path in OPERATOR_PAGES:
        assert operator.page(path).status_code == 200, path


async def test_crediting_a_balance_adds_exactly_the_decimal_amount(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org = await make_org(balance_micro=1)
    operator = _signed_in(open_console, await _operator(db, clock, org.org_id))
    fields = {"org_id": str(org.org_id), "reason": "bank transfer 42"}
    credited = operator.submit(
        "/operator/orgs", "/operator/orgs/credit", fields | {"amount": "0.1"}
    )
    assert credited.status_code == 200
    assert "its balance is 0.100001 USD" in credited.text
    more = operator.submit(
        "/operator/orgs", "/operator/orgs/credit", fields | {"amount": "12.345678"}
    )
    assert more.status_code == 200
    assert (await billing.get_balance(db, org.org_id)).balance_micro == 12_445_679
    [latest, *_] = await billing.list_ledger_entries(db, org.org_id, 1)
    assert (latest.amount_micro, latest.reason) == (12_345_678, "bank transfer 42")
    for amount in ("0.0000001", "1e3", "-5", "0", "ten", "NaN"):
        refused = operator.submit(
            "/operator/orgs", "/operator/orgs/credit", fields | {"amount": amount}
        )
        assert refused.status_code == 400, amount
        assert 'role="alert"' in refused.text and f'value="{amount}"' in refused.text
    unknown = operator.submit(
        "/operator/orgs", "/operator/orgs/credit", {"org_id": "999999", "amount": "1"}
    )
    assert unknown.status_code == 400 and "No organization with ID 999999" in unknown.text
    assert (await billing.get_balance(db, org.org_id)).balance_micro == 12_445_679


async def test_an_operator_makes_an_organization_whose_token_is_shown_once_and_works(
    db: Database,
    clock: FakeClock,
    make_org: OrgFactory,
    open_console: Opener,
    server: RunningServer,
) -> None:
    org = await make_org()
    operator = _signed_in(open_console, await _operator(db, clock, org.org_id))
    name = f"Cooperative {secrets.token_hex(3)}"
    made = operator.submit("/operator/orgs", "/operator/orgs", {"name": name, "sender_id": ""})
    assert made.status_code == 200
    found = re.search(
        r"Organization (\d+) is made.*?id=\"new-org-token\">([^<]+)<", made.text, re.S
    )
    assert found is not None
    new_id, token = int(found.group(1)), found.group(2)
    assert _balance_status(server, new_id, token) == 200
    assert token not in operator.page("/operator/orgs").text
    refused = operator.submit("/operator/orgs", "/operator/orgs", {"name": "  "})
    assert refused.status_code == 400 and "must not be empty" in refused.text


async def test_an_operator_sets_a_price_and_a_wrong_one_shows_the_reason(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org = await make_org()
    operator = _signed_in(open_console, await _operator(db, clock, org.org_id))
    prefix = f"6399{secrets.randbelow(10_000):04d}"
    saved = operator.submit(
        "/operator/prices",
        "/operator/prices",
        {"country": "PH", "prefix": prefix, "price": "0.0123"},
    )
    assert saved.status_code == 200 and "0.012300 USD per part" in saved.text
    [entry] = [p for p in await pricing.list_prices(db) if p.prefix == prefix]
    assert entry.price_micro == 12_300
    refused = operator.submit(
        "/operator/prices", "/operator/prices", {"country": "XX", "prefix": "", "price": "0.01"}
    )
    assert refused.status_code == 400 and "not a country code with phone numbers" in refused.text


async def test_the_channels_page_shows_the_simulator_with_its_live_state_and_the_routes(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org = await make_org()
    operator = _signed_in(open_console, await _operator(db, clock, org.org_id))
    page = operator.page("/operator/channels")
    assert page.status_code == 200
    assert "simulator" in page.text and 'data-live-refresh="10"' in page.text
    assert "state-up" in page.text
    assert '<script src="/static/live.js" defer></script>' in page.text
    assert operator.page("/static/live.js").status_code == 200


async def test_unmatched_inbound_sms_are_listed_for_the_operator(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org = await make_org()
    body = f"who is this {secrets.token_hex(4)}"
    sms = InboundSms("simulator", "639170000001", "UNKNOWN1", body, clock.now())
    await record_inbound(db, clock, [sms], find_runs_awaiting_reply_within)
    operator = _signed_in(open_console, await _operator(db, clock, org.org_id))
    page = operator.page("/operator/inbound")
    assert page.status_code == 200 and body in page.text and "639170000001" in page.text
