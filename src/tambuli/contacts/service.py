"""Use cases on contacts, groups and custom fields; each owns its transaction."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.clock import Clock
from tambuli.contacts import batch_store, listing_store, lookup_store, selection, write_store
from tambuli.contacts import groups as group_store
from tambuli.contacts.models import (
    Contact,
    ContactChange,
    ContactFilter,
    ContactInput,
    ContactPage,
    CustomField,
    Group,
    PhoneNumber,
    check_page,
    check_text,
    fold_name,
)
from tambuli.db.engine import Database
from tambuli.db.group_commit import GroupCommit
from tambuli.db.key_locks import KeyKind, lock_keys
from tambuli.errors import (
    ContactNotFound,
    DuplicateGroupName,
    InvalidInput,
    UnknownCustomField,
    UnknownGroup,
)


async def _resolve_field_values(
    conn: AsyncConnection, org_id: int, given: ContactInput, now: datetime
) -> dict[int, str]:
    """Custom field values by ID; by-name values win over by-ID values for the same field,
    and among names differing only in case the later one in the request wins."""
    [values] = await _resolve_many_field_values(conn, org_id, [given], now)
    return values


async def _resolve_many_field_values(
    conn: AsyncConnection, org_id: int, inputs: list[ContactInput], now: datetime
) -> list[dict[int, str]]:
    """Custom field values of a batch: one lookup for all IDs and one for all names."""
    by_id = {field_id for given in inputs for field_id in given.custom_fields}
    if by_id:
        known = await group_store.select_existing_field_ids(conn, org_id, sorted(by_id))
        unknown = sorted(by_id - known)
        if unknown:
            raise UnknownCustomField(
                f"Unknown custom field ID {unknown[0]}", {"customFieldIds": unknown}
            )
    names = [name for given in inputs for name in given.custom_fields_by_name]
    found = await group_store.find_or_create_field_ids(conn, org_id, names, now)
    resolved = []
    for given in inputs:
        values = dict(given.custom_fields)
        for name, value in given.custom_fields_by_name.items():
            values[found[fold_name(name)]] = value
        resolved.append(values)
    return resolved


async def _check_groups(conn: AsyncConnection, org_id: int, group_ids: list[int]) -> None:
    known = await group_store.select_existing_group_ids(conn, org_id, group_ids)
    unknown = [g for g in group_ids if g not in known]
    if unknown:
        raise UnknownGroup(f"Unknown group ID {unknown[0]}", {"groupIds": unknown})


def _clean_input(given: ContactInput) -> ContactInput:
    """The given names and language checked and trimmed, as every create stores them."""
    return replace(
        given,
        first_name=check_text("firstName", given.first_name) or "",
        last_name=check_text("lastName", given.last_name) or "",
        language=check_text("language", given.language) or "",
    )


def _new_contact(
    contact_id: int,
    org_id: int,
    phone: PhoneNumber,
    given: ContactInput,
    values: dict[int, str],
    now: datetime,
) -> Contact:
    """A contact just inserted from a cleaned input: everything stored is known here, and
    reading it back would only cost round trips."""
    return Contact(
        id=contact_id,
        org_id=org_id,
        phone=phone.digits,
        region=phone.region,
        carrier=phone.carrier,
        first_name=given.first_name or "",
        last_name=given.last_name or "",
        language=given.language or "",
        no_autodelete=bool(given.no_autodelete),
        invalid=False,
        groups=tuple(sorted(set(given.groups or ()))),
        custom_fields={k: v for k, v in sorted(values.items()) if v != ""},
        created_at=now,
        updated_at=now,
        last_use_at=now,
    )


async def _insert_contact(
    conn: AsyncConnection, clock: Clock, org_id: int, phone: PhoneNumber, given: ContactInput
) -> Contact:
    now = clock.now()
    given = _clean_input(given)
    if given.groups:
        await _check_groups(conn, org_id, given.groups)
    values = await _resolve_field_values(conn, org_id, given, now)
    contact_id = await write_store.insert_contact(
        conn,
        org_id,
        phone,
        given.first_name or "",
        given.last_name or "",
        given.language or "",
        bool(given.no_autodelete),
        now,
    )
    if given.groups:
        await write_store.replace_group_memberships(conn, contact_id, given.groups)
    await write_store.write_field_values(conn, contact_id, values)
    return _new_contact(contact_id, org_id, phone, given, values, now)


async def create_contact(
    db: Database,
    clock: Clock,
    org_id: int,
    phone: PhoneNumber,
    given: ContactInput,
    commits: GroupCommit | None = None,
) -> Contact:
    """Create a contact (several contacts may share a number) and return it.

    With `commits`, the insert shares its commit with concurrent ones (the API's hot path).
    """
    if commits is not None:
        return await commits.run(lambda conn: _insert_contact(conn, clock, org_id, phone, given))
    async with db.write() as conn:
        return await _insert_contact(conn, clock, org_id, phone, given)


async def get_contact(db: Database, org_id: int, contact_id: int) -> Contact:
    """One contact of the organization; ContactNotFound otherwise."""
    async with db.read_single() as conn:
        contact = await lookup_store.select_contact(conn, org_id, contact_id)
    if contact is None:
        raise ContactNotFound()
    return contact


async def find_newest_contact_with_phone(
    db: Database, org_id: int, phone: PhoneNumber
) -> Contact | None:
    """The newest contact with this number, if any."""
    async with db.read() as conn:
        return await lookup_store.select_newest_contact_with_phone(conn, org_id, phone.digits)


async def find_newest_contact_with_phone_within(
    conn: AsyncConnection, org_id: int, digits: str
) -> Contact | None:
    """The newest contact with this number, inside the caller's transaction."""
    return await lookup_store.select_newest_contact_with_phone(conn, org_id, digits)


async def find_newest_contacts_to_reuse_within(
    conn: AsyncConnection, org_id: int, phones: list[str]
) -> dict[str, Contact]:
    """For each number that has contacts, the newest one, inside the caller's transaction.

    For find-or-create: each number without a contact stays locked until the transaction
    ends, so that concurrent callers create its contact once (see db/key_locks.py).
    """
    found = await lookup_store.select_newest_contacts_with_phones(conn, org_id, phones)
    missing = [p for p in dict.fromkeys(phones) if p not in found]
    if missing:
        await lock_keys(conn, KeyKind.CONTACT_PHONE, org_id, missing)
        found.update(await lookup_store.select_newest_contacts_with_phones(conn, org_id, missing))
    return found


async def find_contacts_to_reuse_within(
    conn: AsyncConnection, wanted: Iterable[tuple[int, str]]
) -> dict[tuple[int, str], Contact]:
    """For each (organization, number) that has contacts, the newest one, in the caller's
    transaction; a number without one stays locked until it ends (find-or-create in batches:
    create the missing ones later with create_missing_contacts_within)."""
    by_org: dict[int, list[str]] = defaultdict(list)
    for org_id, digits in wanted:
        by_org[org_id].append(digits)
    found: dict[tuple[int, str], Contact] = {}
    # Organizations in ID order, each one's locks in ascending order (db/key_locks.py).
    for org_id in sorted(by_org):
        reused = await find_newest_contacts_to_reuse_within(conn, org_id, by_org[org_id])
        found.update({(org_id, digits): contact for digits, contact in reused.items()})
    return found


async def create_missing_contacts_within(
    conn: AsyncConnection,
    clock: Clock,
    wanted: Iterable[tuple[int, PhoneNumber]],
    reusable: Mapping[tuple[int, str], Contact],
) -> dict[tuple[int, str], int]:
    """The contact ID for each (organization, number): the reusable contact's, or that of a
    contact created now (one per number), in the caller's transaction."""
    missing: dict[int, dict[str, PhoneNumber]] = defaultdict(dict)
    for org_id, phone in wanted:
        if (org_id, phone.digits) not in reusable:
            missing[org_id][phone.digits] = phone
    contact_ids = {key: contact.id for key, contact in reusable.items()}
    for org_id in sorted(missing):
        created = await create_contacts_within(
            conn, clock, org_id, [(phone, ContactInput()) for phone in missing[org_id].values()]
        )
        contact_ids.update({(org_id, c.phone): c.id for c in created})
    return contact_ids


async def find_or_create_contact_with_phone_within(
    conn: AsyncConnection, clock: Clock, org_id: int, phone: PhoneNumber, given: ContactInput
) -> tuple[Contact, bool]:
    """The newest contact with this number, or one created from `given`; and whether it was
    created. Concurrent callers for one new number take turns, so it is created once."""
    found = await lookup_store.select_newest_contact_with_phone(conn, org_id, phone.digits)
    if found is None:
        # Only a number about to get a contact waits its turn; a concurrent creator may have
        # been first.
        await lock_keys(conn, KeyKind.CONTACT_PHONE, org_id, [phone.digits])
        found = await lookup_store.select_newest_contact_with_phone(conn, org_id, phone.digits)
    if found is not None:
        return found, False
    return await _insert_contact(conn, clock, org_id, phone, given), True


async def get_contact_within(conn: AsyncConnection, org_id: int, contact_id: int) -> Contact | None:
    """One contact of the organization inside the caller's transaction, or None."""
    return await lookup_store.select_contact(conn, org_id, contact_id)


async def mark_contact_used_within(
    conn: AsyncConnection, clock: Clock, org_id: int, contact_id: int
) -> None:
    """Record inside the caller's transaction that a contact was just sent to."""
    await write_store.touch_contact(conn, org_id, contact_id, clock.now())


async def read_custom_field_names_within(conn: AsyncConnection, org_id: int) -> dict[int, str]:
    """Custom field names by ID, inside the caller's transaction."""
    return {f.id: f.name for f in await group_store.select_custom_fields(conn, org_id)}


async def update_contact(
    db: Database,
    clock: Clock,
    org_id: int,
    contact_id: int,
    given: ContactInput,
    phone: PhoneNumber | None = None,
) -> Contact:
    """Change only the given fields of a contact and return it."""
    async with db.write() as conn:
        return await update_contact_within(conn, clock, org_id, contact_id, given, phone)


async def update_contact_within(
    conn: AsyncConnection,
    clock: Clock,
    org_id: int,
    contact_id: int,
    given: ContactInput,
    phone: PhoneNumber | None = None,
) -> Contact:
    """update_contact inside the caller's transaction."""
    now = clock.now()
    if not await lookup_store.contact_exists(conn, org_id, contact_id):
        raise ContactNotFound()
    if given.groups:
        await _check_groups(conn, org_id, given.groups)
    values = await _resolve_field_values(conn, org_id, given, now)
    change = ContactChange(
        first_name=check_text("firstName", given.first_name),
        last_name=check_text("lastName", given.last_name),
        language=check_text("language", given.language),
        no_autodelete=given.no_autodelete,
        phone=phone,
    )
    await write_store.update_contact_row(conn, org_id, contact_id, change, now)
    if given.groups is not None:
        await write_store.replace_group_memberships(conn, contact_id, given.groups)
    await write_store.write_field_values(conn, contact_id, values)
    contact = await lookup_store.select_contact(conn, org_id, contact_id)
    assert contact is not None
    return contact


async def get_contacts_within(conn: AsyncConnection, contact_ids: list[int]) -> dict[int, Contact]:
    """Contacts by ID (of any organization) in the caller's transaction; missing ones left out."""
    return {c.id: c for c in await lookup_store.select_contacts_by_ids(conn, contact_ids)}


async def create_contacts_within(
    conn: AsyncConnection,
    clock: Clock,
    org_id: int,
    new: list[tuple[PhoneNumber, ContactInput]],
) -> list[Contact]:
    """Create many contacts (groups and custom fields checked) in the caller's transaction."""
    now = clock.now()
    new = [(phone, _clean_input(given)) for phone, given in new]
    wanted_groups = sorted({g for _, given in new for g in given.groups or ()})
    if wanted_groups:
        await _check_groups(conn, org_id, wanted_groups)
    values = await _resolve_many_field_values(conn, org_id, [given for _, given in new], now)
    ids = await batch_store.insert_contacts(conn, org_id, new, now)
    await batch_store.insert_group_memberships(
        conn,
        [(cid, g) for cid, (_, given) in zip(ids, new, strict=True) for g in given.groups or ()],
    )
    await batch_store.insert_field_values(
        conn,
        [
            (cid, field_id, text)
            for cid, found in zip(ids, values, strict=True)
            for field_id, text in found.items()
            if text != ""
        ],
    )
    return [
        _new_contact(contact_id, org_id, phone, given, found, now)
        for contact_id, (phone, given), found in zip(ids, new, values, strict=True)
    ]


async def mark_contacts_used_within(
    conn: AsyncConnection, clock: Clock, contact_ids: list[int]
) -> None:
    """Record inside the caller's transaction that these contacts were just sent to."""
    await write_store.touch_contacts(conn, contact_ids, clock.now())


async def delete_contact(db: Database, org_id: int, contact_id: int) -> None:
    """Delete a contact; ContactNotFound when it does not exist."""
    async with db.write() as conn:
        if not await write_store.delete_contact_row(conn, org_id, contact_id):
            raise ContactNotFound()


async def list_contacts(
    db: Database, org_id: int, wanted: ContactFilter, page: int, size: int
) -> ContactPage:
    """One page of the organization's contacts matching the filter, oldest first; custom fields
    in its conditions may be named by name (InvalidConditions when the organization has none)."""
    check_page(page, size)
    async with db.read() as conn:
        if wanted.conditions is not None:
            conditions = await selection.resolve_conditions_within(conn, org_id, wanted.conditions)
            wanted = replace(wanted, conditions=conditions)
        total, org_total, found = await listing_store.select_contact_page(
            conn, org_id, wanted, (page - 1) * size, size
        )
    return ContactPage(total=total, org_total=org_total, contacts=found)


async def list_contacts_after(
    db: Database, org_id: int, after_id: int, limit: int, wanted: ContactFilter | None = None
) -> list[Contact]:
    """Contacts with IDs above after_id (matching `wanted` if given), in ID order; for walking
    all contacts in batches."""
    async with db.read() as conn:
        if wanted is not None and wanted.conditions is not None:
            conditions = await selection.resolve_conditions_within(conn, org_id, wanted.conditions)
            wanted = replace(wanted, conditions=conditions)
        return await listing_store.select_contact_id_batch(conn, org_id, after_id, limit, wanted)


async def mark_contact_used(db: Database, clock: Clock, org_id: int, contact_id: int) -> None:
    """Record that a contact was just used (sent to, subscribed)."""
    async with db.write() as conn:
        await write_store.touch_contact(conn, org_id, contact_id, clock.now())


def _check_definition_name(name: str, what: str) -> str:
    cleaned = check_text(f"{what} name", name)
    if not cleaned:
        raise InvalidInput(f"The {what} name must not be empty")
    return cleaned


async def create_group(db: Database, clock: Clock, org_id: int, name: str) -> Group:
    """Create a group; DuplicateGroupName if the name (in any case) is taken."""
    cleaned = _check_definition_name(name, "group")
    now = clock.now()
    async with db.write() as conn:
        group_id = await group_store.insert_group(conn, org_id, cleaned, now)
    if group_id is None:
        raise DuplicateGroupName(f"A group named {cleaned!r} already exists")
    return Group(id=group_id, name=cleaned, created_at=now, size=0)


async def list_groups(db: Database, org_id: int) -> list[Group]:
    """The organization's groups with their sizes."""
    async with db.read() as conn:
        return await group_store.select_groups(conn, org_id)


async def create_custom_field(db: Database, clock: Clock, org_id: int, name: str) -> CustomField:
    """Create a custom field, or return the oldest one with the same name (any case)."""
    cleaned = _check_definition_name(name, "custom field")
    now = clock.now()
    async with db.write() as conn:
        [field_id] = (
            await group_store.find_or_create_field_ids(conn, org_id, [cleaned], now)
        ).values()
        fields = await group_store.select_custom_fields(conn, org_id)
    return next(f for f in fields if f.id == field_id)


async def list_custom_fields(db: Database, org_id: int) -> list[CustomField]:
    """The organization's custom fields, oldest first."""
    async with db.read() as conn:
        return await group_store.select_custom_fields(conn, org_id)


async def find_contact_ids_with_phone_within(
    conn: AsyncConnection, org_id: int, phone: str
) -> list[int]:
    """IDs of every contact of the organization with this number."""
    return await lookup_store.select_contact_ids_with_phone(conn, org_id, phone)


async def record_whatsapp_inbound_within(
    conn: AsyncConnection, org_id: int, contact_ids: Sequence[int], at: datetime
) -> None:
    """Note that these contacts wrote on WhatsApp at `at`: they are WhatsApp-ready, and may get
    free-form messages for 24 hours."""
    await write_store.update_whatsapp_inbound_at(conn, org_id, contact_ids, at)
