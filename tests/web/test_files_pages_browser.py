"""The Files page in a real browser (headless Chromium): upload with progress, play audio,
see a video's thumbnail, edit a transcript, delete; what a viewer sees; accessibility and
screenshots."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from playwright.sync_api import FilePayload, Page, expect

from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tambuli.files import service as stored_files
from tambuli.files.models import Upload
from tambuli.organizations import service as organizations
from tambuli.organizations.models import Role
from tests.support.media import tone_wav, video_clip
from tests.support.server import RunningServer
from tests.web.conftest import assert_accessible, save_screenshot
from tests.web.console_client import Person, make_person

FILE_LIMIT = 16 * 1_048_576


@dataclass(frozen=True)
class World:
    """One organization with a checked video already stored, its owner and a viewer."""

    base_url: str
    org_id: int
    owner: Person
    viewer: Person


@pytest.fixture
async def world(db: Database, clock: FakeClock, server: RunningServer) -> World:
    """Made before the browser starts (the sync Playwright API must not overlap the loop)."""
    org = await organizations.create_organization(db, clock, "Barangay Radio Hour")
    await stored_files.upload_files(
        db,
        clock,
        org.org_id,
        "videos",
        [Upload("Handwashing clip.mp4", video_clip(seconds=1.5))],
        video=True,
        max_file_bytes=FILE_LIMIT,
    )
    owner = await make_person(db, clock, org.org_id, Role.OWNER)
    viewer = await make_person(db, clock, org.org_id, Role.VIEWER)
    return World(server.base_url, org.org_id, owner, viewer)


def sign_in(page: Page, base_url: str, person: Person) -> None:
    """Fill and send the sign-in form."""
    page.goto(f"{base_url}/sign-in")
    page.get_by_label("Email").fill(person.email)
    page.get_by_label("Password").fill(person.password)
    page.get_by_role("button", name="Sign in").click()


def test_an_owner_uploads_plays_transcribes_and_deletes_files(
    world: World, browser_page: Page
) -> None:
    page = browser_page
    sign_in(page, world.base_url, world.owner)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Files").click()
    expect(page.get_by_role("heading", name="Files", exact=True)).to_be_visible()
    thumbnail = page.get_by_role("img", name="First frames of Handwashing clip.mp4")
    expect(thumbnail).to_be_visible()
    assert thumbnail.evaluate("image => image.naturalWidth") > 0
    assert_accessible(page)
    save_screenshot(page, "files")

    page.get_by_label("Files (each at most").set_input_files(
        [
            FilePayload(name="01 - Welcome.wav", mimeType="audio/wav", buffer=tone_wav()),
            FilePayload(name="notes.txt", mimeType="text/plain", buffer=b"not a sound"),
        ]
    )
    page.get_by_label("Category of the files").fill("prompts")
    page.get_by_label("Convert audio").select_option("mono")
    page.get_by_role("button", name="Upload", exact=True).click()
    results = page.get_by_role("status", name="Upload results")
    expect(results).to_contain_text("1 of 2 files stored")
    expect(results).to_contain_text("notes.txt: filter=mono converts audio")
    player = page.get_by_label("Play 01 - Welcome.wav")
    expect(player).to_be_visible()
    seconds = player.evaluate(
        """audio => new Promise((done, failed) => {
            audio.addEventListener("loadedmetadata", () => done(audio.duration));
            audio.addEventListener("error", () => failed(String(audio.error && audio.error.code)));
            audio.preload = "metadata";
            audio.load();
        })"""
    )
    assert 1.9 < seconds < 2.1
    save_screenshot(page, "files-uploaded")

    page.get_by_label("Transcript of 01 - Welcome.wav", exact=True).fill(
        "Welcome to the radio hour."
    )
    page.get_by_role("button", name="Save the transcript of 01 - Welcome.wav").click()
    expect(page.get_by_role("status")).to_contain_text("transcript of 01-welcome.wav is saved")
    expect(page.get_by_label("Transcript of 01 - Welcome.wav", exact=True)).to_have_value(
        "Welcome to the radio hour."
    )
    page.get_by_label("Show the category").select_option("prompts")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("img", name="First frames of Handwashing clip.mp4")).to_have_count(0)
    page.get_by_role("button", name="Delete 01 - Welcome.wav").click()
    expect(page.get_by_role("status")).to_contain_text("01-welcome.wav is deleted")
    expect(page.get_by_label("Play 01 - Welcome.wav")).to_have_count(0)
    assert_accessible(page)


def test_a_viewer_sees_and_plays_files_but_cannot_change_them(
    world: World, browser_page: Page
) -> None:
    page = browser_page
    sign_in(page, world.base_url, world.viewer)
    page.goto(f"{world.base_url}/orgs/{world.org_id}/files")
    expect(page.get_by_role("img", name="First frames of Handwashing clip.mp4")).to_be_visible()
    expect(page.get_by_role("heading", name="Upload")).to_have_count(0)
    expect(page.get_by_role("button", name="Delete Handwashing clip.mp4")).to_have_count(0)
    download = page.get_by_role("link", name="handwashing-clip.mp4")
    expect(download).to_be_visible()
    assert_accessible(page)
    save_screenshot(page, "files-viewer")
