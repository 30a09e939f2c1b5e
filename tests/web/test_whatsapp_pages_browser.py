"""WhatsApp in a real browser (headless Chromium) on a server whose workers deliver through the
WhatsApp simulator: a template message with a picture to a contact who never wrote, followed
to "read"; free text refused outside the 24-hour window and sent inside it; the log with
media and a shared location; the numbers page; accessibility, phones and screenshots."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tests.support.server import RunningServer
from tests.web.conftest import assert_accessible, save_screenshot
from tests.web.test_every_page_browser import PHONE, assert_fits_the_phone, sign_in
from tests.web.whatsapp_desk import WhatsAppDesk, make_whatsapp_desk

# Waiting for the workers, the simulator's statuses and the page's own refresh; the test goes
# on as soon as the state shows.
DELIVERY_WAIT_MS = 60_000


@pytest.fixture
async def desk(db: Database, clock: FakeClock, server: RunningServer) -> WhatsAppDesk:
    """Made before the browser starts (the sync Playwright API must not overlap the loop)."""
    return await make_whatsapp_desk(db, clock)


def _open_whatsapp_compose(page: Page, desk: WhatsAppDesk, base_url: str) -> None:
    sign_in(page, base_url, desk.editor)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Send").click()
    page.get_by_role("navigation", name="Channel to send on").get_by_role(
        "link", name="WhatsApp"
    ).click()
    expect(page.get_by_role("heading", name="Send a WhatsApp message")).to_be_visible()


def test_a_template_with_a_picture_reaches_read_and_free_text_is_refused_outside_the_window(
    desk: WhatsAppDesk, server: RunningServer, browser_page: Page
) -> None:
    page = browser_page
    _open_whatsapp_compose(page, desk, server.base_url)
    page.get_by_label("Contact ID").fill(str(desk.silent_contact_id))
    window = page.locator("#preview [data-test=window]")
    expect(window).to_contain_text("A template is required")
    expect(window).to_contain_text("never written on WhatsApp")

    # Free text anyway: the send service refuses it, and the form says why, text kept.
    page.get_by_label("free text").check()
    page.get_by_label("Text", exact=True).fill("Can you come to the clinic on Monday?")
    page.get_by_role("button", name="Send", exact=True).click()
    error = page.locator("#send-error")
    expect(error).to_contain_text("has not written to this organization on WhatsApp")
    expect(page.get_by_label("Text", exact=True)).to_have_value(
        "Can you come to the clinic on Monday?"
    )
    assert_accessible(page)
    save_screenshot(page, "whatsapp-send-refused")

    page.get_by_label("a registered template").check()
    page.get_by_label("Template", exact=True).select_option("checkup_reminder|en")
    page.get_by_label("Template parameters").fill("{{contact.firstName}}\nMonday 9:00")
    page.get_by_label("Media from Files").select_option(desk.image_filename)
    expect(page.locator("#preview [data-test=preview-text]")).to_have_text(
        "Hello Liza, your check-up is on Monday 9:00."
    )
    expect(page.locator("#preview [data-test=cost]")).to_have_text("0.01 USD")
    assert_accessible(page)
    save_screenshot(page, "whatsapp-send")

    page.get_by_role("button", name="Send", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/orgs/{desk.org_id}/whatsapp/WA.+"))
    expect(page.get_by_role("heading", name=f"WhatsApp to +{desk.silent_phone}")).to_be_visible()
    # The simulator delivers to a number ending 0008, then reads it; the page follows.
    status = page.locator("[data-test=status]")
    expect(status).to_have_text("read", timeout=DELIVERY_WAIT_MS)
    steps = page.locator("[data-test=step]")
    expect(steps.filter(has_text="Delivered to the phone")).to_have_count(1)
    expect(steps.filter(has_text="Read")).to_have_count(1)
    picture = page.get_by_role("img", name=f"Image {desk.image_filename}")
    expect(picture).to_be_visible()
    assert picture.evaluate("image => image.naturalWidth") > 0
    assert_accessible(page)
    save_screenshot(page, "whatsapp-message")

    page.get_by_role("link", name="← WhatsApp messages").click()
    first_row = page.locator("tbody tr").first
    expect(first_row.locator("[data-test=status]")).to_have_text("read")
    expect(first_row).to_contain_text("template checkup_reminder:")
    expect(first_row.get_by_role("img", name=f"Image {desk.image_filename}")).to_be_visible()
    received = page.locator("tbody tr", has_text="Here is the rash")
    expect(received.locator("[data-test=status]")).to_have_text("received")
    expect(received).to_contain_text("14.5995, 120.9842")
    expect(received.get_by_role("img", name="Image rash.png")).to_be_visible()
    assert_accessible(page)
    save_screenshot(page, "whatsapp-log")


def test_free_text_goes_to_a_contact_who_wrote_within_a_day(
    desk: WhatsAppDesk, server: RunningServer, browser_page: Page
) -> None:
    page = browser_page
    _open_whatsapp_compose(page, desk, server.base_url)
    page.get_by_label("Contact ID").fill(str(desk.writer_contact_id))
    page.get_by_label("free text").check()
    page.get_by_label("Text", exact=True).fill("Thank you {{contact.firstName}}, see you soon.")
    expect(page.locator("#preview [data-test=window]")).to_contain_text("Within the 24-hour window")
    expect(page.locator("#preview [data-test=preview-text]")).to_have_text(
        "Thank you Jun, see you soon."
    )
    assert_accessible(page)
    save_screenshot(page, "whatsapp-send-window-open")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/orgs/{desk.org_id}/whatsapp/WA.+"))
    expect(page.locator("[data-test=text]")).to_have_text("Thank you Jun, see you soon.")
    expect(page.locator("[data-test=status]")).to_have_text("delivered", timeout=DELIVERY_WAIT_MS)


def test_the_whatsapp_pages_fit_a_phone_and_list_the_numbers(
    desk: WhatsAppDesk, server: RunningServer, browser_page: Page
) -> None:
    page = browser_page
    page.set_viewport_size(PHONE)
    sign_in(page, server.base_url, desk.viewer)
    org = f"{server.base_url}/orgs/{desk.org_id}"
    page.goto(f"{org}/whatsapp/numbers")
    expect(page.get_by_role("heading", name=f"+{desk.business_number}")).to_be_visible()
    expect(page.get_by_role("cell", name="checkup_reminder")).to_be_visible()
    assert_fits_the_phone(page)
    assert_accessible(page)
    save_screenshot(page, "whatsapp-numbers-phone")
    page.goto(f"{org}/whatsapp")
    expect(page.locator("tbody tr", has_text="Here is the rash")).to_be_visible()
    assert_fits_the_phone(page)
    assert_accessible(page)
    save_screenshot(page, "whatsapp-log-phone")
    page.locator("tbody tr", has_text="Here is the rash").get_by_role("link").first.click()
    expect(page.get_by_role("heading", name=f"WhatsApp from +{desk.writer_phone}")).to_be_visible()
    expect(page.get_by_role("link", name="map")).to_be_visible()
    assert_fits_the_phone(page)
    assert_accessible(page)
    save_screenshot(page, "whatsapp-inbound-phone")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{org}/whatsapp/numbers")
    save_screenshot(page, "whatsapp-numbers")
