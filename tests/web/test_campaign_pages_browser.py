"""The campaign pages in a real browser against a real server with its workers: a drip with a
poll question is written in the editor, launched, a group subscribed, the simulated handset
answers and the answer shows in the report's chart; an accessibility check and a screenshot of
each page."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect

from tambuli.billing import service as billing
from tambuli.clock import FakeClock
from tambuli.contacts import phones
from tambuli.contacts import service as contacts
from tambuli.contacts.models import ContactInput
from tambuli.db.engine import Database
from tambuli.organizations import service as organizations
from tambuli.organizations.models import Role
from tambuli.organizations.profile import update_profile
from tests.support.polling import wait_for
from tests.support.server import RunningServer
from tests.web.conftest import assert_accessible, save_screenshot
from tests.web.console_client import Person, make_person

# The simulator's handset that answers every message with "YES".
ANSWERING_HANDSET = "639171230005"


@dataclass(frozen=True)
class World:
    """A funded organization with a sender, an editor and a group holding the handset."""

    base_url: str
    org_id: int
    editor: Person


@pytest.fixture
async def world(db: Database, clock: FakeClock, server: RunningServer) -> World:
    """Made before the browser starts."""
    org = await organizations.create_organization(db, clock, "Barangay Health Volunteers")
    await billing.credit_balance(db, clock, org.org_id, 50_000_000, "test funds")
    await update_profile(db, org.org_id, default_sender_id="BHW")
    editor = await make_person(db, clock, org.org_id, Role.EDITOR)
    group = await contacts.create_group(db, clock, org.org_id, "Vaccination volunteers")
    await contacts.create_contact(
        db,
        clock,
        org.org_id,
        phones.normalise_full_number(ANSWERING_HANDSET),
        ContactInput(first_name="Rosa", groups=[group.id]),
    )
    return World(server.base_url, org.org_id, editor)


def _sign_in(page: Page, world: World) -> None:
    page.goto(f"{world.base_url}/sign-in")
    page.get_by_label("Email").fill(world.editor.email)
    page.get_by_label("Password").fill(world.editor.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Barangay Health Volunteers")


def _answers_shown(page: Page) -> bool:
    page.reload()
    table = page.locator("table.answers")
    return table.count() > 0 and "YES 1" in " ".join(table.inner_text().split())


def test_a_drip_with_a_question_is_written_launched_sent_to_a_group_and_its_answer_charted(
    world: World, browser_page: Page
) -> None:
    page = browser_page
    _sign_in(page, world)
    page.get_by_role("link", name="Campaigns").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Campaigns")
    assert_accessible(page)
    save_screenshot(page, "campaigns-empty")

    page.get_by_role("link", name="New campaign").click()
    page.get_by_label("Name").fill("Vaccination drive")
    expect(page.get_by_label("Kind")).to_have_value("drip")
    page.get_by_label("Message (default language)").fill("Welcome to the vaccination drive!")
    # Rows are added and removed by the server.
    page.get_by_role("button", name="Add a step").click()
    question = page.get_by_role("group", name="Step 2")
    expect(question).to_be_visible()
    expect(question.get_by_label("Answers, one a line")).to_be_hidden()
    question.get_by_label("This step asks a question").check()
    expect(question.get_by_label("Answers, one a line")).to_be_visible()
    # The drip's delay schedules the question: two seconds after the welcome.
    question.get_by_label("Delay unit").select_option("second")
    question.get_by_label("Delay value").fill("2")
    question.get_by_label("Message (default language)").fill(
        "Will you join Saturday's vaccination drive? Reply YES or NO"
    )
    question.get_by_label("Other language 1").fill("Tagalog")
    question.get_by_label("Text in language 1").fill("Sasali ka ba sa Sabado? Sagot OO o HINDI")
    question.get_by_label("Answers, one a line").fill("YES: Y, OO\nNO: N, HINDI")
    question.get_by_label("Timeout", exact=True).fill("2")
    question.get_by_label("Timeout unit").select_option("day")
    page.get_by_label("Quiet hours: send from").fill("00:00")
    page.get_by_label("Quiet hours: send until").fill("23:59")
    assert_accessible(page)
    save_screenshot(page, "campaign-editor")
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Vaccination drive")
    expect(page.get_by_role("status")).to_have_text("Saved.")
    expect(page.get_by_text("waits for an answer until: 2 days later")).to_be_visible()
    expect(page.locator(".facts")).to_contain_text("drip")
    page.get_by_role("button", name="Launch").click()
    expect(page.locator(".facts .state")).to_have_text("launched")

    page.get_by_label("A group").select_option(label="Vaccination volunteers")
    page.get_by_role("button", name="Subscribe the group").click()
    expect(page.get_by_role("status")).to_have_text("1 contact subscribed.")

    # The server's workers send the welcome, then the question; the simulated handset answers
    # YES to each (the answer to the welcome arrives while no question waits for it).
    wait_for(lambda: _answers_shown(page), timeout=90)
    chart = page.get_by_role("img", name="Answers to question 2")
    expect(chart).to_be_visible()
    assert "YES: 1 answers" in chart.inner_html()
    expect(page.locator("table.answers")).to_contain_text(re.compile(r"NO\s*0"))
    assert_accessible(page)
    save_screenshot(page, "campaign-report")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download every answer (CSV)").click()
    exported = download.value.path().read_text(encoding="utf-8")
    assert "Will you join Saturday's vaccination drive?" in exported and ",YES,YES," in exported

    page.get_by_role("link", name="All campaigns").click()
    expect(page.get_by_role("link", name="Vaccination drive", exact=True)).to_be_visible()
    assert_accessible(page)
    save_screenshot(page, "campaigns")


def test_an_invalid_step_shows_the_apis_error_in_the_browser(
    world: World, browser_page: Page
) -> None:
    page = browser_page
    _sign_in(page, world)
    page.goto(f"{world.base_url}/orgs/{world.org_id}/campaigns/new")
    page.get_by_label("Name").fill("Morning tips")
    page.get_by_label("Delay unit").select_option("day")
    page.get_by_label("Delay value").fill("1")
    page.get_by_label("At time (HH:MM)").fill("9 o'clock")
    page.get_by_label("Message (default language)").fill("Good morning!")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("delay.time")
    expect(page.get_by_label("At time (HH:MM)")).to_have_value("9 o'clock")
    assert_accessible(page)
    save_screenshot(page, "campaign-editor-refused")
