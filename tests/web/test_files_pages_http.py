"""The console's Files page over real HTTP: who may see, play and change which files."""

from __future__ import annotations

from collections.abc import Callable

from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tambuli.files import service as stored_files
from tambuli.files.models import Upload
from tambuli.organizations.models import Role
from tests.conftest import OrgFactory
from tests.support.media import tone_wav
from tests.web.console_client import ConsoleBrowser, Person, csrf_token_of, make_person

Opener = Callable[[], ConsoleBrowser]


def _signed_in(open_console: Opener, person: Person) -> ConsoleBrowser:
    browser = open_console()
    assert browser.sign_in(person).status_code == 303
    return browser


async def test_a_member_of_another_organization_cannot_see_or_change_its_files(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    ours = await make_org()
    theirs = await make_org(name="Other org")
    sound = tone_wav(seconds=1)
    await stored_files.upload_files(
        db, clock, ours.org_id, "prompts", [Upload("Secret.wav", sound)], max_file_bytes=1 << 24
    )
    owner = await make_person(db, clock, ours.org_id, Role.OWNER)
    stranger = await make_person(db, clock, theirs.org_id, Role.OWNER)
    mine = _signed_in(open_console, owner)
    page = mine.page(f"/orgs/{ours.org_id}/files")
    assert page.status_code == 200
    assert "secret.wav" in page.text
    played = mine.page(f"/orgs/{ours.org_id}/files/secret.wav")
    assert played.status_code == 200
    assert played.headers["content-type"] == "audio/wav"
    assert played.content == sound

    other = _signed_in(open_console, stranger)
    for path in ("files", "files/secret.wav", "files/secret.wav/thumbnail"):
        assert other.page(f"/orgs/{ours.org_id}/{path}").status_code == 404
    # Their own organization's URL with our filename finds nothing either.
    assert other.page(f"/orgs/{theirs.org_id}/files/secret.wav").status_code == 404
    token = csrf_token_of(other.page(f"/orgs/{theirs.org_id}/files").text)
    refused = other.http.post(
        f"/orgs/{ours.org_id}/files/secret.wav/delete", data={"csrf_token": token}
    )
    assert refused.status_code == 404
    assert [f.filename for f in await stored_files.list_files(db, ours.org_id)] == ["secret.wav"]


async def test_a_viewer_cannot_upload_edit_or_delete(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org = await make_org()
    await stored_files.upload_files(
        db, clock, org.org_id, "prompts", [Upload("tone.wav", tone_wav(1))], max_file_bytes=1 << 24
    )
    viewer = _signed_in(open_console, await make_person(db, clock, org.org_id, Role.VIEWER))
    page = viewer.page(f"/orgs/{org.org_id}/files")
    assert page.status_code == 200
    assert "Upload" not in page.text.split("<h2>Files</h2>")[0].split("</h1>")[1]
    token = csrf_token_of(viewer.page("/account").text)
    base = f"/orgs/{org.org_id}/files"
    for action, data in (
        (f"{base}/tone.wav/delete", {}),
        (f"{base}/tone.wav/transcript", {"transcript": "mine"}),
    ):
        assert viewer.http.post(action, data={"csrf_token": token, **data}).status_code == 403
    upload = viewer.http.post(
        base,
        data={"csrf_token": token, "category": "x"},
        files={"upload": ("a.wav", tone_wav(1), "audio/wav")},
    )
    assert upload.status_code == 403
    [kept] = await stored_files.list_files(db, org.org_id)
    assert kept.transcript == ""
