"""SQL for WhatsApp Business numbers and their templates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.db.schema import whatsapp_numbers, whatsapp_templates
from tambuli.db.statements import execute
from tambuli.records import frozen_record


@frozen_record
class BusinessNumber:
    """A WhatsApp Business number registered to an organization."""

    id: int
    org_id: int
    number: str
    phone_number_id: str
    # The name of the environment variable that holds the access token.
    token_env: str
    channel: str
    price_micro: int
    created_at: datetime


@frozen_record
class StoredTemplate:
    """A template registered for a business number."""

    id: int
    number_id: int
    name: str
    language: str
    body: str
    parameter_count: int
    created_at: datetime


def _to_number(row: Any) -> BusinessNumber:
    return BusinessNumber(
        id=int(row.id),
        org_id=int(row.org_id),
        number=row.number,
        phone_number_id=row.phone_number_id,
        token_env=row.token_env,
        channel=row.channel,
        price_micro=int(row.price_micro),
        created_at=row.created_at,
    )


def _to_template(row: Any) -> StoredTemplate:
    return StoredTemplate(
        id=int(row.id),
        number_id=int(row.number_id),
        name=row.name,
        language=row.language,
        body=row.body,
        parameter_count=int(row.parameter_count),
        created_at=row.created_at,
    )


# Built once: read on every send, where building the statement cost more than running it.
_NUMBER = select(whatsapp_numbers).where(whatsapp_numbers.c.number == bindparam("number"))
_TEMPLATE = select(whatsapp_templates).where(
    whatsapp_templates.c.number_id == bindparam("number_id"),
    whatsapp_templates.c.name == bindparam("name"),
    whatsapp_templates.c.language == bindparam("language"),
)


async def select_number(conn: AsyncConnection, number: str) -> BusinessNumber | None:
    """The business number with these digits, whichever organization has it."""
    row = (await execute(conn, _NUMBER, {"number": number})).first()
    return None if row is None else _to_number(row)


async def select_numbers(conn: AsyncConnection, org_id: int | None) -> list[BusinessNumber]:
    """The business numbers of one organization (of all when None), by number."""
    statement = select(whatsapp_numbers).order_by(whatsapp_numbers.c.number)
    if org_id is not None:
        statement = statement.where(whatsapp_numbers.c.org_id == org_id)
    return [_to_number(r) for r in await execute(conn, statement)]


async def select_numbers_by_digits(
    conn: AsyncConnection, digits: list[str]
) -> dict[str, BusinessNumber]:
    """Business numbers by their digits."""
    if not digits:
        return {}
    rows = await execute(
        conn, select(whatsapp_numbers).where(whatsapp_numbers.c.number.in_(digits))
    )
    return {r.number: _to_number(r) for r in rows}


async def insert_number(conn: AsyncConnection, values: dict[str, Any]) -> None:
    """Add a business number."""
    await execute(conn, insert(whatsapp_numbers).values(**values))


async def update_number(conn: AsyncConnection, number_id: int, values: dict[str, Any]) -> None:
    """Change a business number's settings."""
    await execute(
        conn, update(whatsapp_numbers).where(whatsapp_numbers.c.id == number_id).values(**values)
    )


async def delete_number(conn: AsyncConnection, number_id: int) -> None:
    """Remove a business number and its templates."""
    await execute(
        conn, delete(whatsapp_templates).where(whatsapp_templates.c.number_id == number_id)
    )
    await execute(conn, delete(whatsapp_numbers).where(whatsapp_numbers.c.id == number_id))


async def select_template(
    conn: AsyncConnection, number_id: int, name: str, language: str
) -> StoredTemplate | None:
    """One template of a number by name and language."""
    wanted = {"number_id": number_id, "name": name, "language": language}
    row = (await execute(conn, _TEMPLATE, wanted)).first()
    return None if row is None else _to_template(row)


async def select_templates(conn: AsyncConnection, number_id: int) -> list[StoredTemplate]:
    """The templates of a number, by name and language."""
    rows = await execute(
        conn,
        select(whatsapp_templates)
        .where(whatsapp_templates.c.number_id == number_id)
        .order_by(whatsapp_templates.c.name, whatsapp_templates.c.language),
    )
    return [_to_template(r) for r in rows]


async def upsert_template(
    conn: AsyncConnection, number_id: int, values: dict[str, Any], now: datetime
) -> None:
    """Register a template, or replace the body of the one with its name and language."""
    result = await execute(
        conn,
        update(whatsapp_templates)
        .where(
            whatsapp_templates.c.number_id == number_id,
            whatsapp_templates.c.name == values["name"],
            whatsapp_templates.c.language == values["language"],
        )
        .values(body=values["body"], parameter_count=values["parameter_count"]),
    )
    if int(result.rowcount) == 0:
        await execute(
            conn, insert(whatsapp_templates).values(number_id=number_id, created_at=now, **values)
        )


async def delete_template(conn: AsyncConnection, number_id: int, name: str, language: str) -> bool:
    """Remove a template; whether there was one."""
    result = await execute(
        conn,
        delete(whatsapp_templates).where(
            whatsapp_templates.c.number_id == number_id,
            whatsapp_templates.c.name == name,
            whatsapp_templates.c.language == language,
        ),
    )
    return int(result.rowcount) > 0
