"""SQL that reads given contacts: by ID, or the contacts with a number."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, String, bindparam, cast, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.contacts.hydration import CONTACT_COLUMNS, contact_from_row, hydrate_contacts
from tambuli.contacts.models import Contact
from tambuli.db.schema import contact_field_values, contact_group_members, contacts
from tambuli.db.statements import execute


async def contact_exists(conn: AsyncConnection, org_id: int, contact_id: int) -> bool:
    """Whether the contact exists in the organization."""
    result = await execute(
        conn, select(contacts.c.id).where(contacts.c.id == contact_id, contacts.c.org_id == org_id)
    )
    return result.scalar_one_or_none() is not None


async def select_contacts_by_ids(conn: AsyncConnection, contact_ids: list[int]) -> list[Contact]:
    """Contacts by ID, of any organization, in ID order."""
    if not contact_ids:
        return []
    rows = (
        await execute(
            conn,
            select(contacts)
            .where(contacts.c.id.in_(sorted(set(contact_ids))))
            .order_by(contacts.c.id),
        )
    ).all()
    return await hydrate_contacts(conn, rows)


# Built once: a hot path of top-ups and subscriptions, where building the statement anew cost
# more than running it.
_CONTACT_IDS_WITH_PHONE = (
    select(contacts.c.id)
    .where(contacts.c.org_id == bindparam("org_id"), contacts.c.phone == bindparam("phone"))
    .order_by(contacts.c.id)
)


async def select_contact_ids_with_phone(
    conn: AsyncConnection, org_id: int, phone: str
) -> list[int]:
    """IDs of the organization's contacts with this number, oldest first."""
    rows = await execute(conn, _CONTACT_IDS_WITH_PHONE, {"org_id": org_id, "phone": phone})
    return [int(i) for i in rows.scalars()]


# Built once: every batch of sends to numbers looks its numbers up here.
_NEWEST_CONTACTS_WITH_PHONES = select(*CONTACT_COLUMNS).where(
    contacts.c.id.in_(
        select(func.max(contacts.c.id))
        .where(
            contacts.c.org_id == bindparam("org_id"),
            contacts.c.phone.in_(bindparam("phones", expanding=True)),
        )
        .group_by(contacts.c.phone)
        .scalar_subquery()
    )
)


async def select_newest_contacts_with_phones(
    conn: AsyncConnection, org_id: int, phones: Sequence[str]
) -> dict[str, Contact]:
    """The most recently created contact for each of these numbers that has one."""
    if not phones:
        return {}
    parameters = {"org_id": org_id, "phones": sorted(set(phones))}
    rows = (await execute(conn, _NEWEST_CONTACTS_WITH_PHONES, parameters)).all()
    return {c.phone: c for c in await hydrate_contacts(conn, rows)}


def _build_single_contact_query(dialect: str) -> Select[Any]:
    # One statement instead of three: the contact lookup is the hottest read, and each
    # statement costs far more in the driver layers than in the database.
    if dialect == "postgresql":
        group_list = func.string_agg(cast(contact_group_members.c.group_id, String), ",")
        value_map = func.json_object_agg(
            contact_field_values.c.field_id, contact_field_values.c.value
        )
    else:
        group_list = func.group_concat(contact_group_members.c.group_id)
        value_map = func.json_group_object(
            contact_field_values.c.field_id, contact_field_values.c.value
        )
    groups = (
        select(group_list)
        .where(contact_group_members.c.contact_id == contacts.c.id)
        .scalar_subquery()
    )
    values = (
        select(value_map)
        .where(contact_field_values.c.contact_id == contacts.c.id)
        .scalar_subquery()
    )
    return select(*CONTACT_COLUMNS, groups.label("group_list"), values.label("value_map")).where(
        contacts.c.id == bindparam("contact_id"), contacts.c.org_id == bindparam("org_id")
    )


_SINGLE_CONTACT_QUERIES = {
    "sqlite": _build_single_contact_query("sqlite"),
    "postgresql": _build_single_contact_query("postgresql"),
}


def _parse_value_map(raw: Any) -> dict[int, str]:
    if not raw:
        return {}
    decoded = json.loads(raw) if isinstance(raw, str) else raw
    return {int(k): str(v) for k, v in sorted(decoded.items(), key=lambda kv: int(kv[0]))}


async def select_contact(conn: AsyncConnection, org_id: int, contact_id: int) -> Contact | None:
    """One contact with its groups and custom field values, or None."""
    # The hottest read of the API: a constant, so on SQLite it runs on the driver's own cursor
    # (db/statements.py).
    query = _SINGLE_CONTACT_QUERIES[conn.dialect.name]
    row = (await execute(conn, query, {"contact_id": contact_id, "org_id": org_id})).first()
    if row is None:
        return None
    group_ids = sorted(int(g) for g in row.group_list.split(",")) if row.group_list else []
    return contact_from_row(row, group_ids, _parse_value_map(row.value_map))


# Built once: read on every WhatsApp send to a number, where building the statement cost more
# than running it.
_NEWEST_WITH_PHONE = (
    select(*CONTACT_COLUMNS)
    .where(contacts.c.org_id == bindparam("org_id"), contacts.c.phone == bindparam("phone"))
    .order_by(contacts.c.id.desc())
    .limit(1)
)


async def select_newest_contact_with_phone(
    conn: AsyncConnection, org_id: int, phone: str
) -> Contact | None:
    """The most recently created contact with this number, or None."""
    rows = (await execute(conn, _NEWEST_WITH_PHONE, {"org_id": org_id, "phone": phone})).all()
    return (await hydrate_contacts(conn, rows))[0] if rows else None
