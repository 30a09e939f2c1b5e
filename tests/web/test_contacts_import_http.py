"""The console's contact import over real HTTP: its state is in the database, so a second
server process serves the same import, and no other organization's user reaches any of its
URLs."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tambuli.clock import FakeClock
from tambuli.contacts import service as contacts
from tambuli.db.engine import Database
from tambuli.organizations.models import Role
from tests.conftest import OrgFactory
from tests.support.polling import wait_for
from tests.support.server import RunningServer, running_server
from tests.web.console_client import ConsoleBrowser, Person, csrf_token_of, make_person

Opener = Callable[[], ConsoleBrowser]
FILE = b"Number,Name,Barangay\n639171234567,Ana,Poblacion\n12345,Bad,\n639181234567,Ben,San Roque\n"
MAPPING = {"target_0": "phone", "target_1": "firstName", "target_2": "field", "field_2": "Barangay"}


@pytest.fixture
def second_server(db: Database, tmp_path: Path) -> Iterator[RunningServer]:
    """Another API process on the session database, as behind a load balancer."""
    with running_server(db.url, tmp_path, extra_args=["--no-workers"]) as running:
        yield running


def _signed_in(browser: ConsoleBrowser, person: Person) -> ConsoleBrowser:
    assert browser.sign_in(person).status_code == 303
    return browser


def _upload(browser: ConsoleBrowser, org_id: int) -> str:
    token = csrf_token_of(browser.page(f"/orgs/{org_id}/contacts/import").text)
    uploaded = browser.http.post(
        f"/orgs/{org_id}/contacts/import",
        data={"csrf_token": token},
        files={"file": ("people.csv", FILE, "text/csv")},
    )
    assert uploaded.status_code == 303, uploaded.text
    return str(uploaded.headers["location"])


def _finished(browser: ConsoleBrowser, path: str) -> dict[str, object] | None:
    status: dict[str, object] = browser.page(f"{path}/status").json()
    return None if status["state"] == "running" else status


async def test_an_upload_on_one_process_is_mapped_on_another_and_reported_on_the_first(
    db: Database,
    clock: FakeClock,
    make_org: OrgFactory,
    open_console: Opener,
    second_server: RunningServer,
) -> None:
    org = await make_org()
    person = await make_person(db, clock, org.org_id, Role.EDITOR)
    first = _signed_in(open_console(), person)
    second = _signed_in(ConsoleBrowser(second_server.base_url), person)
    try:
        path = _upload(first, org.org_id)
        mapping_page = second.page(path)
        assert mapping_page.status_code == 200 and "Poblacion" in mapping_page.text
        assert second.submit(path, path, MAPPING).status_code == 303
        assert wait_for(lambda: _finished(first, path)) == {
            "state": "done",
            "done": 3,
            "total": 3,
            "percent": 100,
        }
        result = first.page(path)
        assert 'id="created-count">2<' in result.text and 'id="refused-count">1<' in result.text
        rows = list(csv.reader(io.StringIO(first.page(f"{path}/refused.csv").text)))
        assert (rows[1][0], rows[1][2], rows[1][3:]) == (
            "3",
            "contact.invalidphonenumber",
            ["12345", "Bad", ""],
        )
        names = {c.first_name for c in await contacts.list_contacts_after(db, org.org_id, 0, 10)}
        assert names == {"Ana", "Ben"}
    finally:
        second.close()


async def test_no_url_of_an_import_answers_another_organizations_user(
    db: Database, clock: FakeClock, make_org: OrgFactory, open_console: Opener
) -> None:
    org = await make_org()
    other = await make_org(name="Other")
    owner = _signed_in(open_console(), await make_person(db, clock, org.org_id, Role.OWNER))
    path = _upload(owner, org.org_id)
    outsider = _signed_in(open_console(), await make_person(db, clock, other.org_id, Role.OWNER))
    own_form = f"/orgs/{other.org_id}/contacts/import"
    # The import's URLs as they are, and with the outsider's own organization in them.
    for where in (path, path.replace(f"/orgs/{org.org_id}/", f"/orgs/{other.org_id}/")):
        for suffix in ("", "/status", "/refused.csv"):
            assert outsider.page(where + suffix).status_code == 404, where + suffix
        assert outsider.submit(own_form, where, MAPPING).status_code == 404, where
    page = owner.page(path)
    assert page.status_code == 200 and "Poblacion" in page.text
    assert owner.page(f"{path}/status").json()["state"] == "mapping"
