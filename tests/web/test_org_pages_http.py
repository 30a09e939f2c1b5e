"""The organization pages over real HTTP: profile, API tokens, webhook secret, balance
history, members' roles, and who may do what."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable

import httpx

from tambuli.billing import service as billing
from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tambuli.organizations import profile as profiles
from tambuli.organizations import service as organizations
from tambuli.organizations import users
from tambuli.organizations.models import Role
from tambuli.webhooks.service import read_webhook_secret
from tests.conftest import OrgFactory
from tests.support.server import RunningServer
from tests.web.console_client import ConsoleBrowser, Person, make_person

Opener = Callable[[], ConsoleBrowser]
_TOKEN = re.compile(r'<code class="link" id="new-token">([^<]+)</code>')
_SECRET = re.compile(r'<code class="link" id="webhook-secret">([^<]+)</code>')


def _signed_in(open_console: Opener, person: Person) -> ConsoleBrowser:
    browser = open_console()
    assert browser.sign_in(person).status_code == 303
    return browser


def _balance_status(server: RunningServer, org_id: int, token: str) -> int:
    return httpx.get(
        f"{server.base_url}/v1/organizations/{org_id}/balance.json",
        headers={"Authorization": f"Token {token}"},
    ).status_code


async def test_a_token_made_on_the_page_is_shown_once_works_and_stops_when_revoked(
    db: Database,
    clock: FakeClock,
    make_org: OrgFactory,
    open_console: Opener,
    server: RunningServer,
) -> None:
    org = await make_org()
    owner = _signed_in(open_console, await make_person(db, clock, org.org_id, Role.OWNER))
    page = f"/orgs/{org.org_id}/tokens"
    made = owner.submit(page, page, {})
    assert made.status_code == 200
    found = _TOKEN.search(made.text)
    assert found is not None
    token = found.group(1)
    assert _balance_status(server, org.org_id, token) == 200
    again = owner.page(page)
    assert token not in again.text and token[:8] in again.text
    # A second token, never used, so no process has it cached (TAMBULI_TOKEN_CACHE_SECONDS).
    second = _TOKEN.search(owner.submit(page, page, {}).text)
    assert second is not None and second.group(1) != token
    live = await organizations.list_tokens(db, org.org_id)
    [listed] = [t for t in live if t.prefix == second.group(1)[:8]]
    revoked = owner.submit(page, f"{page}/{listed.id}/revoke", {})
    assert revoked.status_code == 200 and "revoked" in revoked.text
    assert _balance_status(server, org.org_id, second.group(1)) == 401
    assert _balance_status(server, org.org_id, token) == 200


async def test_a_token_of_another_organization_cannot_be_revoked_through_this_one(
    db: Database,
    clock: FakeClock,
    make_org: OrgFactory,
    open_console: Opener,
    server: RunningServer,
) -> None:
    org = await make_org()
    other = await make_org()
    owner = _signed_in(open_console, await make_person(db, clock, org.org_id, Role.OWNER))
    [theirs] = await organizations.list_tokens(db, other.org_id)
    page = f"/orgs/{org.org_id}/tokens"
    answer = owner.submit(page, f"{page}/{theirs.id}/revoke", {})
    assert answer.status_code == 404
    assert _balance_status(server, other.org_id, other.token) == 200


async def test_the_webhook_secret_is_shown_once_when_made_and_replaced_when_rotated(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org = await make_org()
    owner = _signed_in(open_console, await make_person(db, clock, org.org_id, Role.OWNER))
    page = f"/orgs/{org.org_id}/organization"
    assert "not created yet" in owner.page(page).text
    first = owner.submit(page, f"{page}/webhook-secret", {})
    made = _SECRET.search(first.text)
    assert made is not None and made.group(1) == await read_webhook_secret(db, org.org_id)
    shown = owner.page(page)
    assert made.group(1) not in shown.text and "Rotate the secret" in shown.text
    second = owner.submit(page, f"{page}/webhook-secret", {})
    rotated = _SECRET.search(second.text)
    assert rotated is not None and rotated.group(1) != made.group(1)
    assert await read_webhook_secret(db, org.org_id) == rotated.group(1)


def _settings(**changed: str) -> dict[str, str]:
    values = {
        "default_sender_id": "CLINIC",
        "delivery_window_hours": "24",
        "inbound_url": "",
        "topup_url": "",
        "client_push_events": "receipts",
        "opt_out_keywords": "STOP, HINTO",
        "opt_in_keywords": "",
    }
    return values | changed


async def test_an_owner_changes_the_settings_and_a_refused_value_shows_the_apis_error(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org = await make_org()
    owner = _signed_in(open_console, await make_person(db, clock, org.org_id, Role.OWNER))
    page = f"/orgs/{org.org_id}/organization"
    saved = owner.submit(page, page, _settings(delivery_window_hours="1.5"))
    assert saved.status_code == 200 and "Saved." in saved.text
    profile = await profiles.get_profile(db, org.org_id)
    assert profile.default_sender_id == "CLINIC"
    assert profile.delivery_window_seconds == 5400
    assert profile.opt_out_keywords == "STOP,HINTO"
    refused = owner.submit(page, page, _settings(default_sender_id="<bad sender!>"))
    assert refused.status_code == 400
    assert "The sender ID must be letters, digits, spaces or . _ &amp; &#39; -" in refused.text
    assert 'value="&lt;bad sender!&gt;"' in refused.text
    window = owner.submit(page, page, _settings(delivery_window_hours="0.001"))
    assert window.status_code == 400
    assert "The delivery window must be between one minute and a year" in window.text
    url = owner.submit(page, page, _settings(inbound_url="ftp://example.org/in"))
    assert url.status_code == 400 and "URL must start with http:// or https://" in url.text
    assert await profiles.get_profile(db, org.org_id) == profile


async def test_the_balance_history_pages_and_its_csv_hold_every_entry_exactly(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org = await make_org()
    for i in range(1, 56):
        await billing.credit_balance(
            db, clock, org.org_id, i * 1_000_001, f"credit {i}", "=SUM(A1)"
        )
    viewer = _signed_in(open_console, await make_person(db, clock, org.org_id, Role.VIEWER))
    page = viewer.page(f"/orgs/{org.org_id}/balance-history")
    assert page.status_code == 200
    assert "55.000055" in page.text and "credit 6" in page.text and "credit 5<" not in page.text
    older = re.search(r'href="(/orgs/\d+/balance-history\?before=\d+)"', page.text)
    assert older is not None
    second = viewer.page(older.group(1))
    assert "credit 5<" in second.text and "credit 1<" in second.text
    assert "credit 55" not in second.text
    exported = viewer.page(f"/orgs/{org.org_id}/balance-history.csv")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == 55
    assert [int(r["amountMicro"]) for r in rows] == [i * 1_000_001 for i in range(55, 0, -1)]
    assert rows[0]["amount"] == "55.000055" and rows[0]["reference"] == "'=SUM(A1)"
    assert int(rows[0]["balanceAfterMicro"]) == sum(i * 1_000_001 for i in range(1, 56))


async def test_editors_and_viewers_are_refused_the_owners_pages_and_actions(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org = await make_org()
    owner = await make_person(db, clock, org.org_id, Role.OWNER)
    base = f"/orgs/{org.org_id}"
    for role in (Role.EDITOR, Role.VIEWER):
        person = _signed_in(open_console, await make_person(db, clock, org.org_id, role))
        profile = person.page(f"{base}/organization")
        assert profile.status_code == 200
        assert "Change settings" not in profile.text and "Rotate" not in profile.text
        assert person.page(f"{base}/tokens").status_code == 403
        for action, fields in [
            (f"{base}/tokens", {}),
            (f"{base}/organization", _settings()),
            (f"{base}/organization/webhook-secret", {}),
            (f"{base}/balance-history/auto-recharge", {"threshold": "1", "amount": "5"}),
            (f"{base}/members/{owner.user_id}/role", {"role": "viewer"}),
            (f"{base}/members/{owner.user_id}/remove", {}),
            (f"{base}/members", {"email": "new@example.org", "role": "owner"}),
        ]:
            answer = person.submit(f"{base}/organization", action, fields)
            assert answer.status_code == 403, (role, action)


async def test_a_viewer_cannot_change_anything_on_these_pages(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org = await make_org()
    owner = await make_person(db, clock, org.org_id, Role.OWNER)
    viewer_person = await make_person(db, clock, org.org_id, Role.VIEWER)
    viewer = _signed_in(open_console, viewer_person)
    before = (
        await profiles.get_profile(db, org.org_id),
        await organizations.list_tokens(db, org.org_id),
        await users.list_users(db, org.org_id),
        await billing.get_balance(db, org.org_id),
    )
    [token] = before[1]
    base = f"/orgs/{org.org_id}"
    for action, fields in [
        (f"{base}/organization", _settings(default_sender_id="VIEWER")),
        (f"{base}/organization/webhook-secret", {}),
        (f"{base}/tokens", {}),
        (f"{base}/tokens/{token.id}/revoke", {}),
        (f"{base}/balance-history/auto-recharge", {"threshold": "1", "amount": "5"}),
        (f"{base}/members/{owner.user_id}/role", {"role": "viewer"}),
        (f"{base}/members/{owner.user_id}/remove", {}),
        (f"{base}/members/{viewer_person.user_id}/role", {"role": "owner"}),
        (f"{base}/members", {"email": "new@example.org", "role": "owner"}),
        ("/operator/orgs/credit", {"org_id": str(org.org_id), "amount": "5"}),
        ("/operator/orgs", {"name": "Sneaky"}),
        ("/operator/prices", {"country": "PH", "prefix": "", "price": "0.01"}),
    ]:
        answer = viewer.submit(f"{base}/organization", action, fields)
        assert answer.status_code in (403, 404), action
    after = (
        await profiles.get_profile(db, org.org_id),
        await organizations.list_tokens(db, org.org_id),
        await users.list_users(db, org.org_id),
        await billing.get_balance(db, org.org_id),
    )
    assert after == before


async def test_another_organizations_pages_answer_404(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org = await make_org()
    other = await make_org()
    owner = _signed_in(open_console, await make_person(db, clock, org.org_id, Role.OWNER))
    stranger = await make_person(db, clock, other.org_id, Role.OWNER)
    [their_token] = await organizations.list_tokens(db, other.org_id)
    theirs = f"/orgs/{other.org_id}"
    for path in ("organization", "tokens", "balance-history", "balance-history.csv"):
        assert owner.page(f"{theirs}/{path}").status_code == 404, path
    for action in (
        f"{theirs}/organization",
        f"{theirs}/organization/webhook-secret",
        f"{theirs}/tokens",
        f"{theirs}/tokens/{their_token.id}/revoke",
        f"{theirs}/members/{stranger.user_id}/role",
        f"{theirs}/members/{stranger.user_id}/remove",
    ):
        answer = owner.submit(f"/orgs/{org.org_id}/organization", action, {"role": "viewer"})
        assert answer.status_code == 404, action
    assert (await profiles.get_profile(db, other.org_id)).webhook_secret == ""


async def test_an_owner_changes_roles_and_removes_members_but_never_the_last_owner(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org = await make_org()
    owner_person = await make_person(db, clock, org.org_id, Role.OWNER)
    editor = await make_person(db, clock, org.org_id, Role.EDITOR)
    owner = _signed_in(open_console, owner_person)
    base = f"/orgs/{org.org_id}/members"

    def role_of(user_id: int) -> Role | None:
        return next((r for o, r in roles[user_id] if o == org.org_id), None)

    promoted = owner.submit(base, f"{base}/{editor.user_id}/role", {"role": "owner"})
    assert promoted.status_code == 303
    roles = {u.id: u.roles for u in await users.list_users(db)}
    assert role_of(editor.user_id) is Role.OWNER
    removed = owner.submit(base, f"{base}/{editor.user_id}/remove", {})
    assert removed.status_code == 303
    assert editor.user_id not in {u.id for u in await users.list_users(db, org.org_id)}
    # The signed-in owner is now the only one: neither demoting nor removing them works.
    for action, fields in [
        (f"{base}/{owner_person.user_id}/role", {"role": "editor"}),
        (f"{base}/{owner_person.user_id}/remove", {}),
    ]:
        refused = owner.submit(base, action, fields)
        assert refused.status_code == 400
        assert "keeps at least one owner" in refused.text
    roles = {u.id: u.roles for u in await users.list_users(db)}
    assert role_of(owner_person.user_id) is Role.OWNER
    unknown = owner.submit(base, f"{base}/999999/remove", {})
    assert unknown.status_code == 404
    # The organization's API user holds its tokens; it is not a person to manage here.
    assert owner.submit(base, f"{base}/{org.user_id}/remove", {}).status_code == 404


async def test_an_owner_sets_auto_recharge_exactly_and_turns_it_off(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org = await make_org()
    owner = _signed_in(open_console, await make_person(db, clock, org.org_id, Role.OWNER))
    page = f"/orgs/{org.org_id}/balance-history"
    action = f"{page}/auto-recharge"
    on = owner.submit(page, action, {"threshold": "2.5", "amount": "20.000001"})
    assert on.status_code == 200 and "below 2.500000 USD, 20.000001 USD is added" in on.text
    balance = await billing.get_balance(db, org.org_id)
    assert balance.auto_recharge
    assert (balance.auto_recharge_threshold_micro, balance.auto_recharge_amount_micro) == (
        2_500_000,
        20_000_001,
    )
    refused = owner.submit(page, action, {"threshold": "1", "amount": "1e2"})
    assert refused.status_code == 400 and 'role="alert"' in refused.text
    assert 'value="1e2"' in refused.text
    assert await billing.get_balance(db, org.org_id) == balance
    off = owner.submit(page, action, {"threshold": "", "amount": "", "off": "1"})
    assert off.status_code == 200 and "Off." in off.text
    assert not (await billing.get_balance(db, org.org_id)).auto_recharge
