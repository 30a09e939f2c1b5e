"""Uploading files through the service: unique names under concurrency, limits, categories."""

from __future__ import annotations

import asyncio

import pytest

from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tambuli.errors import FileNotFound, InvalidField, InvalidFile
from tambuli.files import service as stored_files
from tambuli.files.models import Upload
from tests.conftest import OrgFactory

LIMIT = 1 << 20


async def test_concurrent_uploads_of_one_title_never_share_a_filename(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()

    async def upload(n: int) -> str:
        report = await stored_files.upload_files(
            db,
            clock,
            org.org_id,
            "c",
            [Upload("Report.pdf", b"%PDF-1.4 " + bytes([n]))],
            max_file_bytes=LIMIT,
        )
        return report.stored[0].filename

    names = await asyncio.gather(*(upload(n) for n in range(8)))
    assert sorted(names) == sorted(["report.pdf", *(f"report-{n}.pdf" for n in range(2, 9))])
    listed = await stored_files.list_files(db, org.org_id)
    assert {f.filename for f in listed} == set(names)
    assert {f.content_type for f in listed} == {"application/pdf"}


async def test_the_per_file_limit_is_counted_in_bytes(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    fits = await stored_files.upload_files(
        db, clock, org.org_id, "c", [Upload("a.bin", b"\x00" * 100)], max_file_bytes=100
    )
    assert fits.stored[0].size == 100
    with pytest.raises(InvalidFile, match="100-byte limit"):
        await stored_files.upload_files(
            db, clock, org.org_id, "c", [Upload("b.bin", b"\x00" * 101)], max_file_bytes=100
        )


@pytest.mark.parametrize("category", [None, "", "   ", "x" * 101])
async def test_an_upload_needs_a_category(
    db: Database, clock: FakeClock, make_org: OrgFactory, category: str | None
) -> None:
    org = await make_org()
    with pytest.raises(InvalidField):
        await stored_files.upload_files(
            db, clock, org.org_id, category, [Upload("a.txt", b"hi")], max_file_bytes=LIMIT
        )


async def test_empty_and_nameless_uploads_are_refused_with_their_reasons(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    report = await stored_files.upload_files(
        db,
        clock,
        org.org_id,
        "c",
        [Upload("empty.txt", b""), Upload("", b"data"), Upload("ok.txt", b"fine")],
        max_file_bytes=LIMIT,
    )
    assert report.results == {
        "empty.txt": "The file is empty",
        "": "The upload has no file name",
        "ok.txt": "",
    }
    assert [f.filename for f in report.stored] == ["ok.txt"]


async def test_a_transcript_of_a_missing_file_is_not_found(
    db: Database, make_org: OrgFactory
) -> None:
    org = await make_org()
    with pytest.raises(FileNotFound):
        await stored_files.set_transcript(db, org.org_id, "nothing.wav", "words")
    with pytest.raises(FileNotFound):
        await stored_files.delete_file(db, org.org_id, "nothing.wav")
