"""The console's contact imports kept in the database: upload, mapping, progress and report,
per organization, for a day."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tambuli.clock import FakeClock
from tambuli.contacts import mapped_import, pending_imports
from tambuli.contacts import service as contacts
from tambuli.contacts.mapped_import import Mapping, Target
from tambuli.contacts.pending_imports import ImportState
from tambuli.db.engine import Database
from tambuli.errors import InvalidImportFile, NotFound
from tests.conftest import OrgFactory

FILE = b"Name,Number\nAna,639171234567\nBad,12345\nBen,639181234567\n"
MAPPING = [Mapping(Target.FIRST_NAME), Mapping(Target.PHONE)]


async def test_an_import_keeps_its_file_mapping_progress_and_refused_rows_in_the_database(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    uploaded = await pending_imports.upload_import(db, clock, org.org_id, "people.csv", FILE)
    assert (uploaded.state, uploaded.total, uploaded.done) == (ImportState.MAPPING, 3, 0)
    assert uploaded.header == ["Name", "Number"]
    assert uploaded.preview[1] == ["Bad", "12345"]
    assert uploaded.mapping == mapped_import.guess_mapping(uploaded.header)

    token = uploaded.token
    assert await pending_imports.start_import(db, clock, org.org_id, token, MAPPING)
    # Started once only, whichever process gets the second request.
    assert not await pending_imports.start_import(db, clock, org.org_id, token, MAPPING)
    running = await pending_imports.get_import(db, clock, org.org_id, token)
    assert (running.state, running.report) == (ImportState.RUNNING, None)

    await pending_imports.run_import(db, clock, org.org_id, token)
    done = await pending_imports.get_import(db, clock, org.org_id, token)
    assert (done.state, done.done, done.percent) == (ImportState.DONE, 3, 100)
    assert done.report is not None
    assert (done.report.created, done.report.failed) == (2, 1)
    assert [(r.row, r.cells, r.error_code) for r in done.report.refused] == [
        (3, ["Bad", "12345"], "contact.invalidphonenumber")
    ]
    refused_csv = await pending_imports.read_refused_csv(db, clock, org.org_id, token)
    assert refused_csv.splitlines()[0] == "row,error,errorCode,Name,Number"
    assert refused_csv.splitlines()[1].startswith("3,")
    names = {c.first_name for c in await contacts.list_contacts_after(db, org.org_id, 0, 10)}
    assert names == {"Ana", "Ben"}


async def test_another_organization_cannot_read_start_or_run_an_import(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    other = await make_org(name="Other")
    token = (await pending_imports.upload_import(db, clock, org.org_id, "a.csv", FILE)).token
    with pytest.raises(NotFound):
        await pending_imports.get_import(db, clock, other.org_id, token)
    with pytest.raises(NotFound):
        await pending_imports.start_import(db, clock, other.org_id, token, MAPPING)
    with pytest.raises(NotFound):
        await pending_imports.read_refused_csv(db, clock, other.org_id, token)
    assert (await pending_imports.get_import(db, clock, org.org_id, token)).state == "mapping"


async def test_an_import_expires_a_day_after_its_upload(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    token = (await pending_imports.upload_import(db, clock, org.org_id, "a.csv", FILE)).token
    clock.advance(pending_imports.KEPT_FOR - timedelta(seconds=1))
    await pending_imports.get_import(db, clock, org.org_id, token)
    clock.advance(timedelta(seconds=1))
    with pytest.raises(NotFound):
        await pending_imports.get_import(db, clock, org.org_id, token)
    # The next upload forgets it for good.
    await pending_imports.upload_import(db, clock, org.org_id, "b.csv", FILE)
    clock.advance(-pending_imports.KEPT_FOR)
    with pytest.raises(NotFound):
        await pending_imports.get_import(db, clock, org.org_id, token)


async def test_a_running_import_that_went_silent_reads_as_stopped(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    token = (await pending_imports.upload_import(db, clock, org.org_id, "a.csv", FILE)).token
    await pending_imports.start_import(db, clock, org.org_id, token, MAPPING)
    clock.advance(pending_imports.SILENT_FOR + timedelta(seconds=1))
    found = await pending_imports.get_import(db, clock, org.org_id, token)
    assert (found.state, found.error) == (ImportState.FAILED, pending_imports.STOPPED)


async def test_a_bad_mapping_or_file_is_refused_and_the_oldest_uploads_make_room(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    with pytest.raises(InvalidImportFile):
        await pending_imports.upload_import(db, clock, org.org_id, "empty.csv", b"")
    tokens = []
    for n in range(pending_imports.MAX_KEPT_PER_ORG + 1):
        clock.advance(timedelta(seconds=1))
        name = f"file\x00{n}.csv"
        one = await pending_imports.upload_import(db, clock, org.org_id, name, FILE)
        assert one.filename == f"file{n}.csv"
        tokens.append(one.token)
    with pytest.raises(NotFound):
        await pending_imports.get_import(db, clock, org.org_id, tokens[0])
    last = tokens[-1]
    with pytest.raises(InvalidImportFile):
        await pending_imports.start_import(
            db, clock, org.org_id, last, [Mapping(Target.FIRST_NAME), Mapping(Target.IGNORE)]
        )
    assert (await pending_imports.get_import(db, clock, org.org_id, last)).state == "mapping"


async def test_an_organization_runs_three_imports_at_once_not_counting_silent_ones(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    tokens = [
        (await pending_imports.upload_import(db, clock, org.org_id, f"{n}.csv", FILE)).token
        for n in range(pending_imports.MAX_RUNNING_PER_ORG + 1)
    ]
    for token in tokens[:-1]:
        assert await pending_imports.start_import(db, clock, org.org_id, token, MAPPING)
    with pytest.raises(InvalidImportFile):
        await pending_imports.start_import(db, clock, org.org_id, tokens[-1], MAPPING)
    clock.advance(pending_imports.SILENT_FOR + timedelta(seconds=1))
    assert await pending_imports.start_import(db, clock, org.org_id, tokens[-1], MAPPING)
