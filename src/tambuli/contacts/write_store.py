"""SQL that writes one contact: its row, its group memberships and custom field values."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, insert, or_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.contacts.models import ContactChange, PhoneNumber
from tambuli.db.schema import contact_field_values, contact_group_members, contacts
from tambuli.db.statements import execute, execute_many

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
