"""SQL for contacts, their group memberships and custom field values."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.contacts.hydration import CONTACT_COLUMNS, hydrate_contacts
from tambuli.contacts.matching import conditions_clause
from tambuli.contacts.models import (
    Contact,
    ContactChange,
    ContactFilter,
    PhoneNumber,
    search_phone_digits,
)
from tambuli.db.schema import (
    contact_field_values,
    contact_group_members,
    contacts,
)
from tambuli.db.statements import execute, execute_many
from tambuli.db.text_search import escape_like

# Built once: constructing the statement per call cost more than executing it.
_INSERT_CONTACT = insert(contacts).returning(contacts.c.id)


async def insert_contact(
    conn: AsyncConnection,
    org_id: int,
    phone: PhoneNumber,
    first_name: str,
    last_name: str,
    language: str,
    no_autodelete: bool,
    now: datetime,
) -> int:
    """Insert a contact row and return its ID."""
    result = await execute(
        conn,
        _INSERT_CONTACT,
        {
            "org_id": org_id,
            "phone": phone.digits,
            "region": phone.region,
            "carrier": phone.carrier,
            "first_name": first_name,
            "last_name": last_name,
            "language": language,
            "no_autodelete": no_autodelete,
            "invalid": False,
            "created_at": now,
            "updated_at": now,
            "last_use_at": now,
        },
    )
    return int(result.scalar_one())


async def update_contact_row(
    conn: AsyncConnection, org_id: int, contact_id: int, change: ContactChange, now: datetime
) -> None:
    """Store the contact's new values at `now`."""
    given = {
        "first_name": change.first_name,
        "last_name": change.last_name,
        "language": change.language,
        "no_autodelete": change.no_autodelete,
    }
    values: dict[str, object] = {c: v for c, v in given.items() if v is not None}
    if change.phone is not None:
        phone = change.phone
        values.update(phone=phone.digits, region=phone.region, carrier=phone.carrier, invalid=False)
    values["updated_at"] = now
    await execute(
        conn,
        update(contacts)
        .where(contacts.c.id == contact_id, contacts.c.org_id == org_id)
        .values(values),
    )


async def touch_contact(conn: AsyncConnection, org_id: int, contact_id: int, now: datetime) -> None:
    """Note that the contact was used (sent to, subscribed) at `now`."""
    await execute(
        conn,
        update(contacts)
        .where(contacts.c.id == contact_id, contacts.c.org_id == org_id)
        .values(last_use_at=now),
    )


async def delete_contact_row(conn: AsyncConnection, org_id: int, contact_id: int) -> bool:
    """Delete one contact (memberships and values go with it); False when missing."""
    result = await execute(
        conn, delete(contacts).where(contacts.c.id == contact_id, contacts.c.org_id == org_id)
    )
    return int(result.rowcount) == 1


async def replace_group_memberships(
    conn: AsyncConnection, contact_id: int, group_ids: Sequence[int]
) -> None:
    """Make the contact a member of exactly these groups."""
    await execute(
        conn, delete(contact_group_members).where(contact_group_members.c.contact_id == contact_id)
    )
    if group_ids:
        await execute_many(
            conn,
            insert(contact_group_members),
            [{"contact_id": contact_id, "group_id": g} for g in group_ids],
        )


async def write_field_values(
    conn: AsyncConnection, contact_id: int, values: dict[int, str]
) -> None:
    """Set custom field values; an empty string removes the value."""
    if not values:
        return
    await execute(
        conn,
        delete(contact_field_values).where(
            contact_field_values.c.contact_id == contact_id,
            contact_field_values.c.field_id.in_(list(values)),
        ),
    )
    rows = [
        {"contact_id": contact_id, "field_id": fid, "value": value}
        for fid, value in values.items()
        if value != ""
    ]
    if rows:
        await execute_many(conn, insert(contact_field_values), rows)


async def touch_contacts(conn: AsyncConnection, contact_ids: list[int], now: datetime) -> None:
    """Set last_use_at of these contacts to now."""
    if contact_ids:
        await execute(
            conn,
            update(contacts)
            .where(contacts.c.id.in_(sorted(set(contact_ids))))
            .values(last_use_at=now),
        )


def _filter_clause(org_id: int, wanted: ContactFilter, dialect: str) -> ColumnElement[bool]:
    clauses: list[ColumnElement[bool]] = [contacts.c.org_id == org_id]
    if wanted.conditions is not None:
        clauses.append(conditions_clause(wanted.conditions, dialect))
    if wanted.phone is not None:
        clauses.append(contacts.c.phone == wanted.phone)
    if wanted.no_autodelete is not None:
        clauses.append(contacts.c.no_autodelete == wanted.no_autodelete)
    if wanted.whatsapp_ready is True:
        clauses.append(contacts.c.whatsapp_inbound_at.is_not(None))
    elif wanted.whatsapp_ready is False:
        clauses.append(contacts.c.whatsapp_inbound_at.is_(None))
    if wanted.group_id is not None:
        clauses.append(
            contacts.c.id.in_(
                select(contact_group_members.c.contact_id).where(
                    contact_group_members.c.group_id == wanted.group_id
                )
            )
        )
    if wanted.search:
        pattern = f"%{escape_like(wanted.search.casefold())}%"
        # Text inside the first or the last name is inside "first last" too: one lower() a
        # row, which on SQLite is a Python call (db/engine.py) and the cost of the scan.
        full_name = func.lower(contacts.c.first_name + " " + contacts.c.last_name)
        options: list[ColumnElement[bool]] = [full_name.like(pattern, escape="\\")]
        digits = search_phone_digits(wanted.search)
        if digits:
            options.append(contacts.c.phone.like(f"%{digits}%"))
        clauses.append(or_(*options))
    if wanted.ids_in is not None:
        clauses.append(contacts.c.id.in_(wanted.ids_in))  # type: ignore[arg-type]
    if wanted.ids_not_in is not None:
        clauses.append(contacts.c.id.not_in(wanted.ids_not_in))  # type: ignore[arg-type]
    return and_(*clauses)


async def select_contact_page(
    conn: AsyncConnection, org_id: int, wanted: ContactFilter, offset: int, limit: int
) -> tuple[int, int, list[Contact]]:
    """(matching count, organization count, one page of matching contacts oldest first)."""
    clause = _filter_clause(org_id, wanted, conn.dialect.name)
    org_total = int(
        (
            await execute(
                conn, select(func.count()).select_from(contacts).where(contacts.c.org_id == org_id)
            )
        ).scalar_one()
    )
    rows = (
        await execute(
            conn,
            select(*CONTACT_COLUMNS)
            .where(clause)
            .order_by(contacts.c.id)
            .offset(offset)
            .limit(limit),
        )
    ).all()
    # Counting the matches scans them all, as a rare match's page does already: skip it when
    # the page itself tells the count (a short last page), or when there is no filter.
    unfiltered = all(getattr(wanted, f.name) is None for f in fields(wanted))
    if unfiltered:
        total = org_total
    elif len(rows) < limit and (rows or offset == 0):
        total = offset + len(rows)
    else:
        total = int(
            (
                await execute(conn, select(func.count()).select_from(contacts).where(clause))
            ).scalar_one()
        )
    return total, org_total, await hydrate_contacts(conn, rows)


async def select_matching_contact_ids(
    conn: AsyncConnection, org_id: int, wanted: ContactFilter, after_id: int, limit: int
) -> list[int]:
    """IDs above after_id of the contacts matching the filter, in ID order."""
    clause = _filter_clause(org_id, wanted, conn.dialect.name)
    rows = await execute(
        conn,
        select(contacts.c.id)
        .where(clause, contacts.c.id > after_id)
        .order_by(contacts.c.id)
        .limit(limit),
    )
    return [int(i) for i in rows.scalars()]


async def select_contact_id_batch(
    conn: AsyncConnection,
    org_id: int,
    after_id: int,
    limit: int,
    wanted: ContactFilter | None = None,
) -> list[Contact]:
    """Contacts of the organization (matching `wanted` if given) with IDs above after_id, in
    ID order (for exports)."""
    clause = _filter_clause(org_id, wanted or ContactFilter(), conn.dialect.name)
    rows = (
        await execute(
            conn,
            select(*CONTACT_COLUMNS)
            .where(clause, contacts.c.id > after_id)
            .order_by(contacts.c.id)
            .limit(limit),
        )
    ).all()
    return await hydrate_contacts(conn, rows)


async def update_whatsapp_inbound_at(
    conn: AsyncConnection, org_id: int, contact_ids: Sequence[int], at: datetime
) -> None:
    """Note that these contacts wrote on WhatsApp at `at` (a later time is kept)."""
    if not contact_ids:
        return
    await execute(
        conn,
        update(contacts)
        .where(
            contacts.c.org_id == org_id,
            contacts.c.id.in_(list(contact_ids)),
            or_(contacts.c.whatsapp_inbound_at.is_(None), contacts.c.whatsapp_inbound_at < at),
        )
        .values(whatsapp_inbound_at=at),
    )
