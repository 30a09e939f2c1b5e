"""SQL that writes many new contacts at once: one statement per table for a whole batch."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.contacts.models import ContactInput, PhoneNumber
from tambuli.db.schema import contact_field_values, contact_group_members, contacts
from tambuli.db.statements import execute_many


async def insert_contacts(
    conn: AsyncConnection,
    org_id: int,
    new: Sequence[tuple[PhoneNumber, ContactInput]],
    now: datetime,
) -> list[int]:
    """Insert contacts (fields already checked) and return their IDs in the order given."""
    if not new:
        return []
    rows = [
        {
            "org_id": org_id,
            "phone": phone.digits,
            "region": phone.region,
            "carrier": phone.carrier,
            "first_name": given.first_name or "",
            "last_name": given.last_name or "",
            "language": given.language or "",
            "no_autodelete": bool(given.no_autodelete),
            "invalid": False,
            "created_at": now,
            "updated_at": now,
            "last_use_at": now,
        }
        for phone, given in new
    ]
    result = await execute_many(
        conn, insert(contacts).returning(contacts.c.id, sort_by_parameter_order=True), rows
    )
    return [int(contact_id) for contact_id in result.scalars()]


async def insert_group_memberships(
    conn: AsyncConnection, memberships: Sequence[tuple[int, int]]
) -> None:
    """Add (contact ID, group ID) memberships of new contacts."""
    if memberships:
        await execute_many(
            conn,
            insert(contact_group_members),
            [{"contact_id": c, "group_id": g} for c, g in memberships],
        )


async def insert_field_values(
    conn: AsyncConnection, values: Sequence[tuple[int, int, str]]
) -> None:
    """Add (contact ID, custom field ID, value) values of new contacts; skips empty values."""
    rows = [{"contact_id": c, "field_id": f, "value": v} for c, f, v in values if v != ""]
    if rows:
        await execute_many(conn, insert(contact_field_values), rows)
