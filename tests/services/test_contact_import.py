"""Importing contacts from CSV files into a real database."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from tambuli.clock import FakeClock
from tambuli.contacts import groups as group_store
from tambuli.contacts import importing
from tambuli.contacts import service as contacts
from tambuli.contacts.importing import IMPORT_BATCH_SIZE, MAX_REPORTED_ERRORS
from tambuli.contacts.models import Contact, ContactInput
from tambuli.contacts.phones import normalise_full_number
from tambuli.db.engine import Database
from tambuli.errors import InvalidImportFile, UnknownGroup
from tests.conftest import OrgFactory

GLOBE = "639171234567"
SMART = "639181234567"


async def all_contacts(db: Database, org_id: int) -> list[Contact]:
    """Every contact of the organization, oldest first."""
    return await contacts.list_contacts_after(db, org_id, 0, 100_000)


def numbers(count: int) -> list[str]:
    """`count` different valid Philippine mobile numbers."""
    return [f"63917{n:07d}" for n in range(count)]


async def test_good_rows_are_created_and_bad_rows_reported_by_line(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    data = (
        "fullPhoneNumber,firstName,lastName,language,noAutodelete\n"
        f"{GLOBE},Ana,Cruz,Tagalog,yes\n"
        "12345,Bad,Number,,\n"
        f'{SMART},"Ben\nBenito",Reyes,,\n'
        f"{GLOBE},Cy,,,perhaps\n"
        f"+{GLOBE},Di,,,\n"
    ).encode()
    report = await importing.import_contacts(db, clock, org.org_id, data)
    assert (report.created, report.failed) == (3, 2)
    assert [(e.line, e.error_code) for e in report.errors] == [
        (3, "contact.invalidphonenumber"),
        (6, "request.invalidfield"),
    ]
    found = await all_contacts(db, org.org_id)
    assert [(c.phone, c.first_name, c.carrier) for c in found] == [
        (GLOBE, "Ana", "Globe"),
        (SMART, "Ben\nBenito", "Smart"),
        (GLOBE, "Di", "Globe"),
    ]
    ana = found[0]
    assert (ana.last_name, ana.language, ana.no_autodelete) == ("Cruz", "Tagalog", True)
    assert ana.created_at == clock.now()


async def test_custom_field_columns_use_existing_fields_by_name_and_create_the_rest_once(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    crop = await contacts.create_custom_field(db, clock, org.org_id, "Crop")
    rows = "".join(f"{n},rice,{i}\n" for i, n in enumerate(numbers(IMPORT_BATCH_SIZE + 10)))
    data = f"phone,CROP,Farm Size\n{rows}".encode()
    report = await importing.import_contacts(db, clock, org.org_id, data)
    assert report.created == IMPORT_BATCH_SIZE + 10
    fields = await contacts.list_custom_fields(db, org.org_id)
    assert [f.name for f in fields] == ["Crop", "Farm Size"]
    size = fields[1].id
    found = await all_contacts(db, org.org_id)
    assert found[0].custom_fields == {crop.id: "rice", size: "0"}
    assert found[-1].custom_fields == {crop.id: "rice", size: str(IMPORT_BATCH_SIZE + 9)}


async def test_empty_custom_cells_leave_the_field_unset(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    report = await importing.import_contacts(
        db, clock, org.org_id, f"phone,Crop\n{GLOBE},\n".encode()
    )
    assert report.created == 1
    [contact] = await all_contacts(db, org.org_id)
    assert contact.custom_fields == {}


async def test_groups_are_found_by_name_or_id_and_new_names_are_created(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    farmers = await contacts.create_group(db, clock, org.org_id, "Farmers")
    youth = await contacts.create_group(db, clock, org.org_id, "Youth")
    data = (
        "phone,groups\n"
        f"{GLOBE},farmers; {youth.id}\n"
        f"{SMART},Farmers;Batangas\n"
        f"{GLOBE},batangas\n"
        f"{SMART},\n"
    ).encode()
    report = await importing.import_contacts(db, clock, org.org_id, data)
    assert (report.created, report.failed) == (4, 0)
    groups = {g.name: g for g in await contacts.list_groups(db, org.org_id)}
    assert set(groups) == {"Farmers", "Youth", "Batangas"}
    batangas = groups["Batangas"].id
    found = await all_contacts(db, org.org_id)
    assert [c.groups for c in found] == [
        (farmers.id, youth.id),
        tuple(sorted((farmers.id, batangas))),
        (batangas,),
        (),
    ]


async def test_an_unknown_group_id_refuses_its_row_without_creating_its_other_groups(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    data = f"phone,groups\n{GLOBE},Newcomers;999999999\n{SMART},Others\n".encode()
    report = await importing.import_contacts(db, clock, org.org_id, data)
    assert (report.created, report.failed) == (1, 1)
    assert [(e.line, e.error_code) for e in report.errors] == [(2, "contact.unknowngroup")]
    assert [g.name for g in await contacts.list_groups(db, org.org_id)] == ["Others"]


async def test_a_group_given_with_the_import_gets_every_imported_contact(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    survey = await contacts.create_group(db, clock, org.org_id, "Survey")
    data = f"phone,groups\n{GLOBE},\n{SMART},Survey\n".encode()
    report = await importing.import_contacts(db, clock, org.org_id, data, survey.id)
    assert report.created == 2
    assert [c.groups for c in await all_contacts(db, org.org_id)] == [(survey.id,), (survey.id,)]


async def test_an_unknown_import_group_refuses_the_import_before_anything_is_created(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    other = await make_org(name="Other org")
    theirs = await contacts.create_group(db, clock, other.org_id, "Theirs")
    with pytest.raises(UnknownGroup):
        await importing.import_contacts(
            db, clock, org.org_id, f"phone,Crop\n{GLOBE},rice\n".encode(), theirs.id
        )
    assert await all_contacts(db, org.org_id) == []
    assert await contacts.list_custom_fields(db, org.org_id) == []


@pytest.mark.parametrize(
    "data",
    [
        f"phone,groups,Crop\n{GLOBE},Farmers,rice\n{SMART},Peña,corn\n".encode("cp1252"),
        f"phone,groups,Crop\n{GLOBE},Farmers,rice\n{SMART},\x00\x01,corn\n".encode(),
        b"firstName,groups,Crop\nAna,Farmers,rice\n",
        f"phone,groups,Crop\n{GLOBE},Farmers,rice\n{SMART},{'x' * 200_000},corn\n".encode(),
    ],
    ids=["not-utf8", "binary", "no-phone-column", "oversized-cell"],
)
async def test_an_unreadable_file_creates_nothing(
    db: Database, clock: FakeClock, make_org: OrgFactory, data: bytes
) -> None:
    org = await make_org()
    with pytest.raises(InvalidImportFile):
        await importing.import_contacts(db, clock, org.org_id, data)
    assert await all_contacts(db, org.org_id) == []
    assert await contacts.list_groups(db, org.org_id) == []
    assert await contacts.list_custom_fields(db, org.org_id) == []


async def test_imported_contacts_sit_beside_existing_ones_with_the_same_number(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    before = await contacts.create_contact(
        db, clock, org.org_id, normalise_full_number(GLOBE), ContactInput(first_name="Old")
    )
    await importing.import_contacts(
        db, clock, org.org_id, f"phone,firstName\n{GLOBE},New\n".encode()
    )
    newest = await contacts.find_newest_contact_with_phone(
        db, org.org_id, normalise_full_number(GLOBE)
    )
    assert newest is not None and newest.id != before.id and newest.first_name == "New"


async def test_thousands_of_rows_are_created_in_batches_with_errors_at_their_lines(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    bad_lines = {2, IMPORT_BATCH_SIZE + 1, IMPORT_BATCH_SIZE + 2, 1501, 2001}
    lines = ["phone,firstName,groups,Crop"]
    for line, number in enumerate(numbers(2000), start=2):
        lines.append(f"{'1' if line in bad_lines else number},P{line},Farmers,c{line % 7}")
    data = "\n".join(lines).encode()
    commits: list[object] = []

    def count_commit(connection: object) -> None:
        commits.append(connection)

    event.listen(db.engine.sync_engine, "commit", count_commit)
    try:
        report = await importing.import_contacts(db, clock, org.org_id, data)
    finally:
        event.remove(db.engine.sync_engine, "commit", count_commit)
    assert (report.created, report.failed) == (2000 - len(bad_lines), len(bad_lines))
    assert [e.line for e in report.errors] == sorted(bad_lines)
    found = await all_contacts(db, org.org_id)
    assert len(found) == 2000 - len(bad_lines)
    assert [c.first_name for c in found[:2]] == ["P3", "P4"]
    assert found[-1].first_name == "P2000"
    [farmers] = await contacts.list_groups(db, org.org_id)
    assert farmers.size == len(found)
    assert len(await contacts.list_custom_fields(db, org.org_id)) == 1
    # Batches, counted rather than timed: one transaction per row would be about 2,000 commits.
    assert 0 < len(commits) <= 20, len(commits)


async def test_the_error_list_is_capped_but_every_failure_is_counted(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    bad = MAX_REPORTED_ERRORS + 200
    data = ("phone\n" + "nope\n" * bad + f"{GLOBE}\n").encode()
    report = await importing.import_contacts(db, clock, org.org_id, data)
    assert (report.created, report.failed) == (1, bad)
    assert len(report.errors) == MAX_REPORTED_ERRORS
    assert report.errors[-1].line == MAX_REPORTED_ERRORS + 1


async def test_a_group_created_elsewhere_during_an_import_is_used_not_duplicated(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    async with db.write() as conn:
        await group_store.insert_group(conn, org.org_id, "Late", clock.now())
    report = await importing.import_contacts(
        db, clock, org.org_id, f"phone,groups\n{GLOBE},LATE\n".encode()
    )
    assert report.created == 1
    assert [g.name for g in await contacts.list_groups(db, org.org_id)] == ["Late"]
