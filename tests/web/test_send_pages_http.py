"""The console's Send, Messages and Top-ups pages over real HTTP, on the API's services."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx

from tambuli.billing import service as billing
from tambuli.clock import FakeClock
from tambuli.contacts import phones
from tambuli.contacts import service as contacts
from tambuli.contacts.models import ContactInput
from tambuli.db.engine import Database
from tambuli.organizations.models import Role
from tests.conftest import OrgFactory
from tests.web.console_client import ConsoleBrowser, make_person

Opener = Callable[[], ConsoleBrowser]
GLOBE = "639171234561"
SMART = "639181234561"
FRAGMENT = {"X-Console-Fragment": "1"}


async def _signed_in(
    db: Database, clock: FakeClock, org_id: int, role: Role, open_console: Opener
) -> ConsoleBrowser:
    browser = open_console()
    browser.sign_in(await make_person(db, clock, org_id, role))
    return browser


def _send(
    browser: ConsoleBrowser, org_id: int, fields: dict[str, str], preview: bool = False
) -> httpx.Response:
    page = f"/orgs/{org_id}/send"
    return browser.submit(page, page + ("/preview" if preview else ""), fields)


async def test_the_preview_names_the_characters_that_force_ucs2_and_prices_the_parts(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org = await make_org(balance_micro=10_000_000)
    browser = await _signed_in(db, clock, org.org_id, Role.EDITOR, open_console)
    plain = browser.submit(
        f"/orgs/{org.org_id}/send",
        f"/orgs/{org.org_id}/send/preview",
        {"kind": "number", "number": f"+{GLOBE}", "message": "Hello there"},
    )
    assert plain.status_code == 200
    assert 'data-test="encoding">GSM-7<' in plain.text and 'data-test="parts">1<' in plain.text
    assert 'data-test="cost">' in plain.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', plain.text)
    assert token is not None
    fragment = browser.http.post(
        f"/orgs/{org.org_id}/send/preview",
        data={
            "csrf_token": token.group(1),
            "kind": "number",
            "number": f"+{GLOBE}",
            "message": "Salamat po ✓ " + "x" * 70,
        },
        headers=FRAGMENT,
    )
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert 'data-test="encoding">UCS-2<' in fragment.text
    assert '<code class="char">✓</code>' in fragment.text
    assert 'data-test="parts">2<' in fragment.text


async def test_the_preview_shows_the_text_personalised_for_a_chosen_contact(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org = await make_org(balance_micro=10_000_000)
    contact = await contacts.create_contact(
        db, clock, org.org_id, phones.normalise_full_number(GLOBE), ContactInput(first_name="Ana")
    )
    browser = await _signed_in(db, clock, org.org_id, Role.EDITOR, open_console)
    answer = _send(
        browser,
        org.org_id,
        {"kind": "contact", "contact_id": str(contact.id), "message": "Hi {{contact.firstName}}!"},
        preview=True,
    )
    assert answer.status_code == 200
    assert 'data-test="preview-text">Hi Ana!<' in answer.text
    assert f"As Ana (ID {contact.id}) gets it" in answer.text


async def test_sending_to_a_number_opens_the_message_with_its_timeline_and_lists_it(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org = await make_org(balance_micro=10_000_000)
    browser = await _signed_in(db, clock, org.org_id, Role.EDITOR, open_console)
    sent = _send(browser, org.org_id, {"kind": "number", "number": f"+{GLOBE}", "message": "Hi"})
    assert sent.status_code == 303
    location = sent.headers["location"]
    assert location.startswith(f"/orgs/{org.org_id}/messages/")
    detail = browser.page(location)
    assert detail.status_code == 200 and "Queued" in detail.text and GLOBE in detail.text
    log = browser.page(f"/orgs/{org.org_id}/messages")
    assert log.status_code == 200 and location in log.text
    none_failed = browser.page(f"/orgs/{org.org_id}/messages?failed=yes")
    assert location not in none_failed.text


async def test_a_send_the_balance_does_not_cover_is_refused_on_the_form_keeping_the_text(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org = await make_org()
    browser = await _signed_in(db, clock, org.org_id, Role.EDITOR, open_console)
    answer = _send(
        browser, org.org_id, {"kind": "number", "number": f"+{GLOBE}", "message": "Kept text"}
    )
    assert answer.status_code == 400
    assert 'role="alert" id="send-error">insufficient funds<' in answer.text
    assert ">Kept text</textarea>" in answer.text


async def test_a_bad_number_is_refused_on_the_form(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org = await make_org(balance_micro=10_000_000)
    browser = await _signed_in(db, clock, org.org_id, Role.EDITOR, open_console)
    answer = _send(browser, org.org_id, {"kind": "number", "number": "12", "message": "Hi"})
    assert answer.status_code == 400 and 'role="alert"' in answer.text
    assert 'value="12"' in answer.text


async def test_a_group_send_queues_one_message_per_member(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org = await make_org(balance_micro=10_000_000)
    group = await contacts.create_group(db, clock, org.org_id, "Volunteers")
    for number in (GLOBE, SMART):
        await contacts.create_contact(
            db,
            clock,
            org.org_id,
            phones.normalise_full_number(number),
            ContactInput(groups=[group.id]),
        )
    browser = await _signed_in(db, clock, org.org_id, Role.EDITOR, open_console)
    preview = _send(
        browser, org.org_id, {"kind": "group", "group_id": str(group.id), "message": "Hi"}, True
    )
    assert "<dt>Recipients</dt><dd>2" in preview.text
    answer = _send(
        browser, org.org_id, {"kind": "group", "group_id": str(group.id), "message": "Hi"}
    )
    assert answer.status_code == 200 and "2 messages queued" in answer.text


async def test_a_viewer_reads_the_log_but_may_not_open_send_or_send(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org = await make_org(balance_micro=10_000_000)
    browser = await _signed_in(db, clock, org.org_id, Role.VIEWER, open_console)
    assert browser.page(f"/orgs/{org.org_id}/send").status_code == 403
    assert browser.page(f"/orgs/{org.org_id}/messages").status_code == 200
    token = re.search(
        r'name="csrf_token" value="([^"]+)"', browser.page(f"/orgs/{org.org_id}/messages").text
    )
    assert token is not None
    refused = browser.http.post(
        f"/orgs/{org.org_id}/send",
        data={"csrf_token": token.group(1), "kind": "number", "number": GLOBE, "message": "x"},
    )
    assert refused.status_code == 403
    topups = browser.page(f"/orgs/{org.org_id}/topups")
    assert topups.status_code == 200 and "Send airtime" not in topups.text


async def test_another_organizations_message_and_top_up_answer_404(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org = await make_org(balance_micro=10_000_000)
    other = await make_org(balance_micro=10_000_000)
    sender = await _signed_in(db, clock, other.org_id, Role.EDITOR, open_console)
    sent = _send(sender, other.org_id, {"kind": "number", "number": f"+{GLOBE}", "message": "x"})
    message_id = sent.headers["location"].rsplit("/", 1)[-1]
    browser = await _signed_in(db, clock, org.org_id, Role.OWNER, open_console)
    assert browser.page(f"/orgs/{other.org_id}/messages/{message_id}").status_code == 404
    assert browser.page(f"/orgs/{org.org_id}/messages/{message_id}").status_code == 404
    topup = sender.submit(
        f"/orgs/{other.org_id}/topups",
        f"/orgs/{other.org_id}/topups",
        {"kind": "number", "number": f"+{GLOBE}", "max_amount": "20"},
    )
    assert topup.status_code == 303
    topup_id = topup.headers["location"].rsplit("/", 1)[-1]
    assert browser.page(f"/orgs/{org.org_id}/topups/{topup_id}").status_code == 404
    assert browser.page(f"/orgs/{other.org_id}/topups/{topup_id}").status_code == 404


async def test_a_bad_date_filter_is_shown_on_the_log(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org = await make_org()
    browser = await _signed_in(db, clock, org.org_id, Role.VIEWER, open_console)
    answer = browser.page(f"/orgs/{org.org_id}/messages?start=yesterday")
    assert answer.status_code == 400 and "From must be a date" in answer.text


async def test_a_top_up_shows_operator_and_amount_before_it_is_sent_and_charged(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org = await make_org(balance_micro=50_000_000)
    browser = await _signed_in(db, clock, org.org_id, Role.EDITOR, open_console)
    fields = {"kind": "number", "number": f"+{GLOBE}", "max_amount": "20"}
    checked = browser.submit(
        f"/orgs/{org.org_id}/topups", f"/orgs/{org.org_id}/topups/preview", fields
    )
    assert checked.status_code == 200 and 'data-test="plan"' in checked.text
    assert "PHP" in checked.text
    assert (await billing.get_balance(db, org.org_id)).balance_micro == 50_000_000
    sent = browser.submit(f"/orgs/{org.org_id}/topups", f"/orgs/{org.org_id}/topups", fields)
    assert sent.status_code == 303
    detail = browser.page(sent.headers["location"])
    assert detail.status_code == 200 and GLOBE in detail.text
    listed = browser.page(f"/orgs/{org.org_id}/topups")
    assert sent.headers["location"] in listed.text


async def test_a_top_up_the_balance_does_not_cover_is_refused_on_the_form(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org = await make_org()
    browser = await _signed_in(db, clock, org.org_id, Role.EDITOR, open_console)
    answer = browser.submit(
        f"/orgs/{org.org_id}/topups",
        f"/orgs/{org.org_id}/topups",
        {"kind": "number", "number": f"+{GLOBE}", "max_amount": "20"},
    )
    assert answer.status_code == 400 and 'role="alert"' in answer.text
    assert 'value="20"' in answer.text
