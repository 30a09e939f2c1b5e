"""The console over real HTTP: sign-in, sessions, CSRF, throttling, roles, isolation."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx

from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tambuli.organizations import users
from tambuli.organizations.models import Role
from tests.conftest import OrgFactory
from tests.support.server import RunningServer
from tests.web.console_client import ConsoleBrowser, csrf_token_of, make_person

Opener = Callable[[], ConsoleBrowser]


async def test_signing_in_sets_a_signed_http_only_same_site_cookie_and_opens_the_dashboard(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org = await make_org(name="Cooperative A")
    person = await make_person(db, clock, org.org_id, Role.OWNER)
    browser = open_console()
    answer = browser.sign_in(person)
    assert answer.status_code == 303
    cookie = next(h for h in answer.headers.get_list("set-cookie") if "tambuli_session=" in h)
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    start = browser.page("/")
    assert start.status_code == 303 and start.headers["location"] == f"/orgs/{org.org_id}/"
    dashboard = browser.page(f"/orgs/{org.org_id}/")
    assert dashboard.status_code == 200
    assert "Cooperative A" in dashboard.text and "Balance" in dashboard.text
    assert dashboard.headers["cache-control"] == "no-store"


async def test_a_wrong_password_is_refused_on_the_form_without_a_session(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org = await make_org()
    person = await make_person(db, clock, org.org_id, Role.OWNER)
    browser = open_console()
    answer = browser.submit(
        "/sign-in", "/sign-in", {"email": person.email, "password": "not the password"}
    )
    assert answer.status_code == 401
    assert "The email or password is not right" in answer.text
    assert browser.page(f"/orgs/{org.org_id}/").status_code == 303


async def test_a_form_without_the_sessions_csrf_token_is_refused_with_403(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org = await make_org()
    person = await make_person(db, clock, org.org_id, Role.OWNER)
    browser = open_console()
    browser.page("/sign-in")
    refused = browser.http.post(
        "/sign-in", data={"email": person.email, "password": person.password}
    )
    assert refused.status_code == 403 and "This form has expired" in refused.text
    forged = browser.http.post(
        "/sign-in",
        data={"email": person.email, "password": person.password, "csrf_token": "forged"},
    )
    assert forged.status_code == 403
    browser.sign_in(person)
    # Signed in, a token from another visitor's page does not do either.
    other = open_console()
    stolen = other.page("/sign-in").text
    answer = browser.http.post(
        f"/orgs/{org.org_id}/members",
        data={"csrf_token": csrf_token_of(stolen), "email": "x@example.org", "role": "viewer"},
    )
    assert answer.status_code == 403


async def test_signing_out_ends_the_session_even_for_a_copied_cookie(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org = await make_org()
    person = await make_person(db, clock, org.org_id, Role.VIEWER)
    browser = open_console()
    browser.sign_in(person)
    copied = dict(browser.http.cookies)
    out = browser.submit(f"/orgs/{org.org_id}/", "/sign-out", {})
    assert out.status_code == 303 and out.headers["location"] == "/sign-in"
    thief = open_console()
    thief.http.cookies.update(copied)
    assert thief.page(f"/orgs/{org.org_id}/").status_code == 303


async def test_a_cookie_not_signed_by_the_console_is_ignored(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org = await make_org()
    person = await make_person(db, clock, org.org_id, Role.OWNER)
    token = await users.start_session(db, clock, person.user_id)
    browser = open_console()
    browser.http.cookies.set("tambuli_session", f"{token}.not-the-signature")
    assert browser.page(f"/orgs/{org.org_id}/").status_code == 303


async def test_the_sixth_wrong_password_within_15_minutes_is_answered_429(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org = await make_org()
    person = await make_person(db, clock, org.org_id, Role.OWNER)
    browser = open_console()
    for _ in range(5):
        wrong = browser.submit(
            "/sign-in", "/sign-in", {"email": person.email, "password": "wrong password"}
        )
        assert wrong.status_code == 401
    throttled = browser.sign_in(person)
    assert throttled.status_code == 429
    assert "Too many failed sign-ins" in throttled.text
    assert int(throttled.headers["retry-after"]) > 0


async def test_a_password_change_signs_out_every_other_session(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org = await make_org()
    person = await make_person(db, clock, org.org_id, Role.EDITOR)
    phone, laptop = open_console(), open_console()
    phone.sign_in(person)
    laptop.sign_in(person)
    changed = laptop.submit(
        "/account",
        "/account/password",
        {
            "current_password": person.password,
            "new_password": "another long password",
            "repeat_password": "another long password",
        },
    )
    assert changed.status_code == 303
    assert laptop.page("/account").status_code == 200
    assert phone.page("/account").status_code == 303


async def test_a_viewer_sees_the_pages_but_cannot_add_members(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org = await make_org()
    viewer = await make_person(db, clock, org.org_id, Role.VIEWER)
    editor = await make_person(db, clock, org.org_id, Role.EDITOR)
    for person in (viewer, editor):
        browser = open_console()
        browser.sign_in(person)
        members = browser.page(f"/orgs/{org.org_id}/members")
        assert members.status_code == 200 and "Add a person" not in members.text
        refused = browser.submit(
            f"/orgs/{org.org_id}/members",
            f"/orgs/{org.org_id}/members",
            {"email": "new-person@example.org", "role": "owner"},
        )
        assert refused.status_code == 403
    listed = await users.list_users(db, org.org_id)
    assert all(u.email != "new-person@example.org" for u in listed)


async def test_an_owner_adds_a_person_who_signs_in_once_with_the_link(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org = await make_org()
    owner = await make_person(db, clock, org.org_id, Role.OWNER)
    browser = open_console()
    browser.sign_in(owner)
    added = browser.submit(
        f"/orgs/{org.org_id}/members",
        f"/orgs/{org.org_id}/members",
        {"email": "Invited.Person@Example.org", "role": "editor"},
    )
    assert added.status_code == 200
    found = re.search(r"(/sign-in/link/[A-Za-z0-9_-]+)", added.text)
    assert found is not None
    newcomer = open_console()
    assert newcomer.page(found.group(1)).status_code == 200
    used = newcomer.submit(found.group(1), found.group(1), {})
    assert used.status_code == 303 and used.headers["location"] == "/account"
    assert "Choose a password" in newcomer.page("/account").text
    again = open_console().submit(found.group(1), found.group(1), {})
    assert again.status_code == 401


async def test_an_owner_adding_someone_elses_account_gets_no_link_to_it(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    mine, theirs = await make_org(name="Mine"), await make_org(name="Theirs")
    owner = await make_person(db, clock, mine.org_id, Role.OWNER)
    stranger = await make_person(db, clock, theirs.org_id, Role.OWNER)
    browser = open_console()
    browser.sign_in(owner)
    added = browser.submit(
        f"/orgs/{mine.org_id}/members",
        f"/orgs/{mine.org_id}/members",
        {"email": stranger.email, "role": "viewer"},
    )
    assert added.status_code == 200 and "/sign-in/link/" not in added.text


async def test_a_user_never_sees_another_organizations_pages_even_by_url(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    mine, theirs = await make_org(name="Mine"), await make_org(name="Secret Theirs")
    person = await make_person(db, clock, mine.org_id, Role.OWNER)
    browser = open_console()
    browser.sign_in(person)
    for path in (f"/orgs/{theirs.org_id}/", f"/orgs/{theirs.org_id}/members"):
        answer = browser.page(path)
        assert answer.status_code == 404
        assert "Secret Theirs" not in answer.text
    unknown = browser.page("/orgs/999999999/")
    assert unknown.status_code == 404
    sneaky = browser.submit(
        f"/orgs/{mine.org_id}/members",
        f"/orgs/{theirs.org_id}/members",
        {"email": "planted@example.org", "role": "owner"},
    )
    assert sneaky.status_code == 404


def test_the_api_and_its_docs_are_unaffected_by_the_console(server: RunningServer) -> None:
    assert httpx.get(f"{server.base_url}/openapi.json").status_code == 200
    assert httpx.get(f"{server.base_url}/docs").status_code == 200
    api = httpx.get(f"{server.base_url}/v1/organizations/1/balance.json")
    assert api.status_code == 401 and api.json() == {"error": "Invalid Token"}
    paths = httpx.get(f"{server.base_url}/openapi.json").json()["paths"]
    assert not any(p.startswith(("/orgs", "/sign-in", "/account")) for p in paths)


async def test_the_dashboard_warns_when_the_balance_is_low(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    poor, rich = await make_org(balance_micro=250_000), await make_org(balance_micro=5_000_000)
    for org, warned in ((poor, True), (rich, False)):
        person = await make_person(db, clock, org.org_id, Role.VIEWER)
        browser = open_console()
        browser.sign_in(person)
        page = browser.page(f"/orgs/{org.org_id}/").text
        assert ("Low balance" in page) is warned
