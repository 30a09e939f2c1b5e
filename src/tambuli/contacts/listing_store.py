"""SQL that lists an organization's contacts matching a filter: pages, IDs and export batches."""

from __future__ import annotations

from dataclasses import fields

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.contacts.hydration import CONTACT_COLUMNS, hydrate_contacts
from tambuli.contacts.matching import conditions_clause
from tambuli.contacts.models import Contact, ContactFilter, search_phone_digits
from tambuli.db.schema import contact_group_members, contacts
from tambuli.db.statements import execute
from tambuli.db.text_search import escape_like


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
