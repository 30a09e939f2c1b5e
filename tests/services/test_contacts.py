"""Contacts, groups and custom fields as services on a real database."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tambuli.clock import FakeClock
from tambuli.contacts import groups as group_store
from tambuli.contacts import service as contacts
from tambuli.contacts.models import ContactFilter, ContactInput
from tambuli.contacts.phones import normalise_full_number
from tambuli.db.engine import Database
from tambuli.errors import (
    ContactNotFound,
    DuplicateGroupName,
    InvalidField,
    UnknownCustomField,
    UnknownGroup,
)
from tests.conftest import OrgFactory

ANA = normalise_full_number("639171234567")
BEN = normalise_full_number("639181234567")


async def test_a_created_contact_has_its_fields_groups_and_times(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    group = await contacts.create_group(db, clock, org.org_id, "Farmers")
    field = await contacts.create_custom_field(db, clock, org.org_id, "Crop")
    contact = await contacts.create_contact(
        db,
        clock,
        org.org_id,
        ANA,
        ContactInput(
            first_name=" Ana ",
            last_name="Cruz",
            language="Tagalog",
            groups=[group.id],
            custom_fields={field.id: "rice"},
            no_autodelete=True,
        ),
    )
    assert (contact.first_name, contact.last_name, contact.language) == ("Ana", "Cruz", "Tagalog")
    assert contact.phone == "639171234567"
    assert contact.carrier == "Globe"
    assert contact.groups == (group.id,)
    assert contact.custom_fields == {field.id: "rice"}
    assert contact.no_autodelete
    assert contact.created_at == contact.updated_at == clock.now()
    assert await contacts.get_contact(db, org.org_id, contact.id) == contact


async def test_several_contacts_may_share_a_number_and_the_newest_is_found(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    await contacts.create_contact(db, clock, org.org_id, ANA, ContactInput(first_name="Old"))
    newer = await contacts.create_contact(
        db, clock, org.org_id, ANA, ContactInput(first_name="New")
    )
    found = await contacts.find_newest_contact_with_phone(db, org.org_id, ANA)
    assert found is not None
    assert found.id == newer.id


async def test_custom_fields_by_name_are_matched_ignoring_case_and_created_once(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    first = await contacts.create_contact(
        db, clock, org.org_id, ANA, ContactInput(custom_fields_by_name={"Gender": "f"})
    )
    second = await contacts.create_contact(
        db, clock, org.org_id, BEN, ContactInput(custom_fields_by_name={"gender": "m"})
    )
    fields = await contacts.list_custom_fields(db, org.org_id)
    assert [f.name for f in fields] == ["Gender"]
    assert first.custom_fields == {fields[0].id: "f"}
    assert second.custom_fields == {fields[0].id: "m"}


async def test_the_oldest_custom_field_wins_when_names_collide(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    async with db.write() as conn:
        oldest = await group_store.insert_custom_field(conn, org.org_id, "Color", clock.now())
        await group_store.insert_custom_field(conn, org.org_id, "COLOR", clock.now())
    contact = await contacts.create_contact(
        db, clock, org.org_id, ANA, ContactInput(custom_fields_by_name={"color": "blue"})
    )
    assert contact.custom_fields == {oldest: "blue"}


async def test_by_name_values_win_over_by_id_values_for_the_same_field(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    field = await contacts.create_custom_field(db, clock, org.org_id, "Crop")
    contact = await contacts.create_contact(
        db,
        clock,
        org.org_id,
        ANA,
        ContactInput(custom_fields={field.id: "corn"}, custom_fields_by_name={"CROP": "rice"}),
    )
    assert contact.custom_fields == {field.id: "rice"}


async def test_an_update_changes_only_what_is_given(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    keep = await contacts.create_custom_field(db, clock, org.org_id, "Keep")
    drop = await contacts.create_custom_field(db, clock, org.org_id, "Drop")
    group = await contacts.create_group(db, clock, org.org_id, "G1")
    created = await contacts.create_contact(
        db,
        clock,
        org.org_id,
        ANA,
        ContactInput(
            first_name="Ana",
            last_name="Cruz",
            groups=[group.id],
            custom_fields={keep.id: "k", drop.id: "d"},
        ),
    )
    clock.advance(timedelta(minutes=5))
    updated = await contacts.update_contact(
        db,
        clock,
        org.org_id,
        created.id,
        ContactInput(last_name="Reyes", custom_fields={drop.id: ""}),
    )
    assert (updated.first_name, updated.last_name) == ("Ana", "Reyes")
    assert updated.groups == (group.id,)
    assert updated.custom_fields == {keep.id: "k"}
    assert updated.created_at == created.created_at
    assert updated.updated_at == created.updated_at + timedelta(minutes=5)
    cleared = await contacts.update_contact(
        db, clock, org.org_id, created.id, ContactInput(groups=[]), phone=BEN
    )
    assert cleared.groups == ()
    assert cleared.phone == BEN.digits


async def test_unknown_groups_and_custom_fields_are_refused_and_change_nothing(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    other = await make_org()
    foreign = await contacts.create_group(db, clock, other.org_id, "Not yours")
    with pytest.raises(UnknownGroup):
        await contacts.create_contact(db, clock, org.org_id, ANA, ContactInput(groups=[foreign.id]))
    with pytest.raises(UnknownCustomField):
        await contacts.create_contact(
            db,
            clock,
            org.org_id,
            ANA,
            ContactInput(custom_fields={999_999: "x"}, custom_fields_by_name={"New": "y"}),
        )
    page = await contacts.list_contacts(db, org.org_id, ContactFilter(), 1, 10)
    assert page.org_total == 0
    assert await contacts.list_custom_fields(db, org.org_id) == []


async def test_over_long_text_is_refused(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    with pytest.raises(InvalidField):
        await contacts.create_contact(
            db, clock, org.org_id, ANA, ContactInput(first_name="x" * 201)
        )


async def test_deleted_contacts_are_gone(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    created = await contacts.create_contact(db, clock, org.org_id, ANA, ContactInput())
    await contacts.delete_contact(db, org.org_id, created.id)
    with pytest.raises(ContactNotFound):
        await contacts.get_contact(db, org.org_id, created.id)
    with pytest.raises(ContactNotFound):
        await contacts.delete_contact(db, org.org_id, created.id)


async def test_contacts_of_another_organization_are_invisible(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    other = await make_org()
    created = await contacts.create_contact(db, clock, org.org_id, ANA, ContactInput())
    with pytest.raises(ContactNotFound):
        await contacts.get_contact(db, other.org_id, created.id)
    with pytest.raises(ContactNotFound):
        await contacts.update_contact(db, clock, other.org_id, created.id, ContactInput())
    with pytest.raises(ContactNotFound):
        await contacts.delete_contact(db, other.org_id, created.id)


async def test_lists_filter_and_page(db: Database, clock: FakeClock, make_org: OrgFactory) -> None:
    org = await make_org()
    group = await contacts.create_group(db, clock, org.org_id, "Clinic")
    ana = await contacts.create_contact(
        db, clock, org.org_id, ANA, ContactInput(first_name="Ana", last_name="Cruz")
    )
    ben = await contacts.create_contact(
        db,
        clock,
        org.org_id,
        BEN,
        ContactInput(first_name="Ben", groups=[group.id], no_autodelete=True),
    )
    for n in range(3):
        await contacts.create_contact(
            db, clock, org.org_id, ANA, ContactInput(first_name=f"100%_{n}")
        )

    async def ids(wanted: ContactFilter, page: int = 1, size: int = 100) -> list[int]:
        found = await contacts.list_contacts(db, org.org_id, wanted, page, size)
        assert found.org_total == 5
        return [c.id for c in found.contacts]

    assert await ids(ContactFilter(search="ana cruz")) == [ana.id]
    assert await ids(ContactFilter(search="CRUZ")) == [ana.id]
    assert await ids(ContactFilter(search="918123")) == [ben.id]
    assert len(await ids(ContactFilter(search="100%_"))) == 3
    assert await ids(ContactFilter(search="%")) == await ids(ContactFilter(search="100%"))
    assert await ids(ContactFilter(phone=BEN.digits)) == [ben.id]
    assert await ids(ContactFilter(group_id=group.id)) == [ben.id]
    assert await ids(ContactFilter(no_autodelete=True)) == [ben.id]
    everyone = await ids(ContactFilter())
    assert everyone == sorted(everyone)
    assert await ids(ContactFilter(), page=2, size=2) == everyone[2:4]
    page = await contacts.list_contacts(db, org.org_id, ContactFilter(search="zzz"), 1, 10)
    assert (page.total, page.org_total, page.contacts) == (0, 5, [])


@pytest.mark.parametrize(("page", "size"), [(0, 10), (1, 0), (1, 1001), (-1, 10)])
async def test_pages_outside_the_limits_are_refused(
    db: Database, make_org: OrgFactory, page: int, size: int
) -> None:
    org = await make_org()
    with pytest.raises(InvalidField):
        await contacts.list_contacts(db, org.org_id, ContactFilter(), page, size)


async def test_group_names_are_unique_per_organization_ignoring_case(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    other = await make_org()
    await contacts.create_group(db, clock, org.org_id, "Farmers")
    with pytest.raises(DuplicateGroupName):
        await contacts.create_group(db, clock, org.org_id, "FARMERS")
    await contacts.create_group(db, clock, other.org_id, "Farmers")
    assert [g.name for g in await contacts.list_groups(db, org.org_id)] == ["Farmers"]


async def test_group_sizes_count_members(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    group = await contacts.create_group(db, clock, org.org_id, "Members")
    for phone in (ANA, BEN):
        await contacts.create_contact(db, clock, org.org_id, phone, ContactInput(groups=[group.id]))
    assert [(g.name, g.size) for g in await contacts.list_groups(db, org.org_id)] == [
        ("Members", 2)
    ]


async def test_creating_a_custom_field_twice_returns_the_first(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    first = await contacts.create_custom_field(db, clock, org.org_id, "District")
    again = await contacts.create_custom_field(db, clock, org.org_id, "district")
    assert again.id == first.id
    assert again.name == "District"
