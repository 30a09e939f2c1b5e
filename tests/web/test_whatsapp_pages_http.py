"""WhatsApp in the console over real HTTP: the compose form's window, previews and refusals
(the send service's own), the log and a message's page, the numbers page, roles and CSRF."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest

from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tambuli.messaging.listing import MessageFilter
from tambuli.organizations.models import Role
from tambuli.whatsapp import listing
from tests.support.server import RunningServer
from tests.web.console_client import ConsoleBrowser, make_person
from tests.web.whatsapp_desk import WhatsAppDesk, make_whatsapp_desk

Opener = Callable[[], ConsoleBrowser]
FRAGMENT = {"X-Console-Fragment": "1"}
EVERYTHING = MessageFilter(None, None, None, None, None)


@pytest.fixture
async def desk(db: Database, clock: FakeClock, server: RunningServer) -> WhatsAppDesk:
    """The organization (the server is started first, so it is migrated)."""
    return await make_whatsapp_desk(db, clock)


def _editor(desk: WhatsAppDesk, open_console: Opener) -> ConsoleBrowser:
    browser = open_console()
    browser.sign_in(desk.editor)
    return browser


def _compose(
    browser: ConsoleBrowser, desk: WhatsAppDesk, fields: dict[str, str], action: str = ""
) -> httpx.Response:
    page = f"/orgs/{desk.org_id}/send/whatsapp"
    return browser.submit(page, page + action, {"sender": desk.business_number, **fields})


async def test_free_text_to_a_contact_who_never_wrote_is_refused_with_the_services_reason(
    db: Database, desk: WhatsAppDesk, open_console: Opener
) -> None:
    browser = _editor(desk, open_console)
    answer = _compose(
        browser,
        desk,
        {
            "kind": "contact",
            "contact_id": str(desk.silent_contact_id),
            "mode": "text",
            "message": "Are you free tomorrow?",
        },
    )
    assert answer.status_code == 400
    assert "has not written to this organization on WhatsApp in the last 24 hours" in answer.text
    assert "A template is required:" in answer.text
    assert "Are you free tomorrow?</textarea>" in answer.text
    found = await listing.list_messages_after(db, desk.org_id, EVERYTHING, None, 10)
    assert all(m.direction.value == "ingress" for m in found.messages)


async def test_the_preview_shows_the_window_and_the_template_filled_for_the_contact(
    desk: WhatsAppDesk, open_console: Opener
) -> None:
    browser = _editor(desk, open_console)
    page = browser.page(f"/orgs/{desk.org_id}/send/whatsapp")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None and f"+{desk.business_number}" in page.text
    assert "checkup_reminder (en, 2 parameters)" in page.text
    closed = browser.http.post(
        f"/orgs/{desk.org_id}/send/whatsapp/preview",
        data={
            "csrf_token": token.group(1),
            "sender": desk.business_number,
            "kind": "contact",
            "contact_id": str(desk.silent_contact_id),
            "mode": "template",
            "template": "checkup_reminder|en",
            "parameters": "{{contact.firstName}}\nMonday 9:00",
        },
        headers=FRAGMENT,
    )
    assert closed.status_code == 200 and "<html" not in closed.text
    assert "this contact has never written on WhatsApp" in closed.text
    assert "Hello Liza, your check-up is on Monday 9:00." in closed.text
    assert 'data-test="cost">0.01 USD' in closed.text
    wrote = browser.http.post(
        f"/orgs/{desk.org_id}/send/whatsapp/preview",
        data={
            "csrf_token": token.group(1),
            "sender": desk.business_number,
            "kind": "number",
            "number": f"+{desk.writer_phone}",
            "mode": "template",
            "template": "checkup_reminder|en",
            "parameters": "Jun",
        },
        headers=FRAGMENT,
    )
    assert "Within the 24-hour window:" in wrote.text
    assert "checkup_reminder takes 2 parameters, one a line; 1 given." in wrote.text


async def test_a_template_send_is_queued_and_shown_with_its_timeline_and_in_the_log(
    desk: WhatsAppDesk, open_console: Opener
) -> None:
    browser = _editor(desk, open_console)
    answer = _compose(
        browser,
        desk,
        {
            "kind": "number",
            "number": f"+{desk.silent_phone}",
            "mode": "template",
            "template": "hello_world|en_US",
            "media": desk.image_filename,
        },
    )
    assert answer.status_code == 303, answer.text[:3000]
    detail = browser.page(answer.headers["location"])
    assert detail.status_code == 200
    assert f"WhatsApp to +{desk.silent_phone}" in detail.text
    assert f"Liza Reyes (ID {desk.silent_contact_id})" in detail.text
    assert "<code>hello_world</code> (en_US)" in detail.text
    assert f'src="/orgs/{desk.org_id}/files/{desk.image_filename}"' in detail.text
    assert "Queued" in detail.text
    log = browser.page(f"/orgs/{desk.org_id}/whatsapp")
    assert "template hello_world:" in log.text and "Hello World" in log.text
    assert "14.5995, 120.9842" in log.text and "openstreetmap.org/?mlat=14.5995" in log.text
    assert 'alt="Image rash.png"' in log.text
    received = browser.page(f"/orgs/{desk.org_id}/whatsapp?dir=inbound")
    assert "Here is the rash" in received.text and "Hello World" not in received.text
    searched = browser.page(f"/orgs/{desk.org_id}/whatsapp?search=rash")
    assert "Here is the rash" in searched.text and "template hello_world" not in searched.text
    bad = browser.page(f"/orgs/{desk.org_id}/whatsapp?start=yesterday")
    assert bad.status_code == 400 and "From must be a date" in bad.text


async def test_a_wrong_template_parameter_count_and_a_missing_template_are_refused(
    desk: WhatsAppDesk, open_console: Opener
) -> None:
    browser = _editor(desk, open_console)
    fields = {"kind": "contact", "contact_id": str(desk.silent_contact_id), "mode": "template"}
    none_chosen = _compose(browser, desk, fields)
    assert none_chosen.status_code == 400 and "Choose a template" in none_chosen.text
    short = _compose(
        browser, desk, {**fields, "template": "checkup_reminder|en", "parameters": "Liza"}
    )
    assert short.status_code == 400
    assert "Template &#39;checkup_reminder&#39; takes 2 parameters; 1 were given" in short.text


async def test_the_numbers_page_lists_the_numbers_and_templates_to_every_member(
    db: Database, clock: FakeClock, desk: WhatsAppDesk, open_console: Opener
) -> None:
    viewer = open_console()
    viewer.sign_in(desk.viewer)
    page = viewer.page(f"/orgs/{desk.org_id}/whatsapp/numbers")
    assert page.status_code == 200
    assert f"+{desk.business_number}" in page.text
    assert (
        "checkup_reminder" in page.text and "Hello {{1}}, your check-up is on {{2}}." in page.text
    )
    assert viewer.page(f"/orgs/{desk.org_id}/whatsapp").status_code == 200
    assert viewer.page(f"/orgs/{desk.org_id}/send/whatsapp").status_code == 403
    other = await make_whatsapp_desk(db, clock)
    stranger = open_console()
    stranger.sign_in(await make_person(db, clock, other.org_id, Role.VIEWER))
    assert stranger.page(f"/orgs/{desk.org_id}/whatsapp/numbers").status_code == 404


async def test_a_viewer_cannot_send_and_a_form_without_the_token_is_refused(
    desk: WhatsAppDesk, open_console: Opener
) -> None:
    viewer = open_console()
    viewer.sign_in(desk.viewer)
    token_page = viewer.page(f"/orgs/{desk.org_id}/whatsapp")
    token = re.search(r'name="csrf_token" value="([^"]+)"', token_page.text)
    assert token is not None
    fields = {
        "sender": desk.business_number,
        "kind": "contact",
        "mode": "template",
        "contact_id": str(desk.silent_contact_id),
        "template": "hello_world|en_US",
    }
    refused = viewer.http.post(
        f"/orgs/{desk.org_id}/send/whatsapp", data={"csrf_token": token.group(1), **fields}
    )
    assert refused.status_code == 403
    editor = _editor(desk, open_console)
    forged = editor.http.post(f"/orgs/{desk.org_id}/send/whatsapp", data=fields)
    assert forged.status_code == 403 and "This form has expired" in forged.text
