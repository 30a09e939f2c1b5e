"""Contact rows made into Contacts, with their groups and custom field values."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.contacts.models import Contact
from tambuli.db.schema import contact_field_values, contact_group_members, contacts
from tambuli.db.statements import execute

# The contact row's own columns, which every read of whole contacts selects.
CONTACT_COLUMNS = (
    contacts.c.id,
    contacts.c.org_id,
    contacts.c.phone,
    contacts.c.region,
    contacts.c.carrier,
    contacts.c.first_name,
    contacts.c.last_name,
    contacts.c.language,
    contacts.c.no_autodelete,
    contacts.c.invalid,
    contacts.c.created_at,
    contacts.c.updated_at,
    contacts.c.last_use_at,
    contacts.c.whatsapp_inbound_at,
)


async def _load_groups(conn: AsyncConnection, ids: list[int]) -> dict[int, list[int]]:
    found: dict[int, list[int]] = defaultdict(list)
    if not ids:
        return found
    rows = await execute(
        conn,
        select(contact_group_members.c.contact_id, contact_group_members.c.group_id)
        .where(contact_group_members.c.contact_id.in_(ids))
        .order_by(contact_group_members.c.contact_id, contact_group_members.c.group_id),
    )
    for contact_id, group_id in rows:
        found[int(contact_id)].append(int(group_id))
    return found


async def _load_values(conn: AsyncConnection, ids: list[int]) -> dict[int, dict[int, str]]:
    found: dict[int, dict[int, str]] = defaultdict(dict)
    if not ids:
        return found
    rows = await execute(
        conn,
        select(
            contact_field_values.c.contact_id,
            contact_field_values.c.field_id,
            contact_field_values.c.value,
        )
        .where(contact_field_values.c.contact_id.in_(ids))
        .order_by(contact_field_values.c.contact_id, contact_field_values.c.field_id),
    )
    for contact_id, field_id, value in rows:
        found[int(contact_id)][int(field_id)] = str(value)
    return found


def contact_from_row(row: Any, groups: list[int], values: dict[int, str]) -> Contact:
    """The Contact of a row of CONTACT_COLUMNS, with its group IDs and custom field values."""
    return Contact(
        id=int(row.id),
        org_id=int(row.org_id),
        phone=row.phone,
        region=row.region,
        carrier=row.carrier,
        first_name=row.first_name,
        last_name=row.last_name,
        language=row.language,
        no_autodelete=bool(row.no_autodelete),
        invalid=bool(row.invalid),
        groups=tuple(groups),
        custom_fields=values,
        created_at=row.created_at,
        updated_at=row.updated_at,
        last_use_at=row.last_use_at,
        whatsapp_inbound_at=row.whatsapp_inbound_at,
    )


async def hydrate_contacts(conn: AsyncConnection, rows: Sequence[Any]) -> list[Contact]:
    """The Contacts of these rows, in their order: two more statements for all of them."""
    ids = [int(r.id) for r in rows]
    groups = await _load_groups(conn, ids)
    values = await _load_values(conn, ids)
    return [contact_from_row(r, groups.get(int(r.id), []), values.get(int(r.id), {})) for r in rows]
