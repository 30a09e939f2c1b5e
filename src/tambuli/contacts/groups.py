"""SQL for groups and custom field definitions."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.contacts.models import CustomField, Group, fold_name
from tambuli.db.key_locks import KeyKind, lock_keys
from tambuli.db.schema import contact_group_members, contact_groups, custom_fields
from tambuli.db.statements import execute


async def insert_group(conn: AsyncConnection, org_id: int, name: str, now: datetime) -> int | None:
    """Insert a group; None when the organization already has one with that name."""
    try:
        async with conn.begin_nested():
            result = await execute(
                conn,
                insert(contact_groups)
                .values(org_id=org_id, name=name, name_key=fold_name(name), created_at=now)
                .returning(contact_groups.c.id),
            )
            return int(result.scalar_one())
    except IntegrityError:
        return None


async def select_groups(conn: AsyncConnection, org_id: int) -> list[Group]:
    """The organization's groups with their sizes, oldest first."""
    size = (
        select(func.count())
        .select_from(contact_group_members)
        .where(contact_group_members.c.group_id == contact_groups.c.id)
        .scalar_subquery()
    )
    rows = await execute(
        conn,
        select(contact_groups.c.id, contact_groups.c.name, contact_groups.c.created_at, size)
        .where(contact_groups.c.org_id == org_id)
        .order_by(contact_groups.c.id),
    )
    return [Group(id=r[0], name=r[1], created_at=r[2], size=int(r[3])) for r in rows]


async def select_group_id_by_name(conn: AsyncConnection, org_id: int, name: str) -> int | None:
    """The ID of the group with this name (any case), or None."""
    result = await execute(
        conn,
        select(contact_groups.c.id).where(
            contact_groups.c.org_id == org_id, contact_groups.c.name_key == fold_name(name)
        ),
    )
    value = result.scalar_one_or_none()
    return None if value is None else int(value)


async def insert_custom_field(conn: AsyncConnection, org_id: int, name: str, now: datetime) -> int:
    """Insert a custom field definition and return its ID."""
    result = await execute(
        conn,
        insert(custom_fields)
        .values(org_id=org_id, name=name, name_key=fold_name(name), created_at=now)
        .returning(custom_fields.c.id),
    )
    return int(result.scalar_one())


async def select_custom_fields(conn: AsyncConnection, org_id: int) -> list[CustomField]:
    """The organization's custom fields, oldest first."""
    rows = await execute(
        conn,
        select(custom_fields.c.id, custom_fields.c.name, custom_fields.c.created_at)
        .where(custom_fields.c.org_id == org_id)
        .order_by(custom_fields.c.id),
    )
    return [CustomField(id=r[0], name=r[1], created_at=r[2]) for r in rows]


async def select_field_ids_by_names(
    conn: AsyncConnection, org_id: int, name_keys: list[str]
) -> dict[str, int]:
    """For each folded name that exists, the oldest custom field's ID."""
    if not name_keys:
        return {}
    rows = await execute(
        conn,
        select(custom_fields.c.name_key, func.min(custom_fields.c.id))
        .where(custom_fields.c.org_id == org_id, custom_fields.c.name_key.in_(name_keys))
        .group_by(custom_fields.c.name_key),
    )
    return {str(key): int(fid) for key, fid in rows}


async def find_or_create_field_ids(
    conn: AsyncConnection, org_id: int, names: Iterable[str], now: datetime
) -> dict[str, int]:
    """By folded name, the oldest custom field with that name; missing ones are created.

    Names are compared without case; a field created here takes the last of the given
    spellings of its name. Concurrent callers for one name take turns, so it is created once.
    """
    wanted = {fold_name(name): name for name in names}
    found = await select_field_ids_by_names(conn, org_id, list(wanted))
    missing = [key for key in wanted if key not in found]
    if not missing:
        return found
    # Only a name about to be created waits its turn; a concurrent creator may have been first.
    await lock_keys(conn, KeyKind.CUSTOM_FIELD_NAME, org_id, missing)
    found.update(await select_field_ids_by_names(conn, org_id, missing))
    for key in missing:
        if key not in found:
            found[key] = await insert_custom_field(conn, org_id, wanted[key], now)
    return found


async def select_existing_group_ids(
    conn: AsyncConnection, org_id: int, group_ids: Iterable[int]
) -> set[int]:
    """Which of these group IDs exist in the organization."""
    ids = list(group_ids)
    if not ids:
        return set()
    result = await execute(
        conn,
        select(contact_groups.c.id).where(
            contact_groups.c.org_id == org_id, contact_groups.c.id.in_(ids)
        ),
    )
    return {int(v) for v in result.scalars()}


async def select_existing_field_ids(
    conn: AsyncConnection, org_id: int, field_ids: Iterable[int]
) -> set[int]:
    """Which of these custom field IDs exist in the organization."""
    ids = list(field_ids)
    if not ids:
        return set()
    result = await execute(
        conn,
        select(custom_fields.c.id).where(
            custom_fields.c.org_id == org_id, custom_fields.c.id.in_(ids)
        ),
    )
    return {int(v) for v in result.scalars()}
