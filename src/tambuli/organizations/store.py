"""SQL for organizations, users, memberships and API tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Table, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.db.schema import api_tokens, memberships, operator_tokens, organizations, users
from tambuli.db.statements import execute
from tambuli.organizations.models import OperatorTokenInfo, Organization, TokenInfo


async def insert_organization(conn: AsyncConnection, name: str, now: datetime) -> int:
    """Insert an organization with a zero balance and return its ID."""
    result = await execute(
        conn, insert(organizations).values(name=name, created_at=now).returning(organizations.c.id)
    )
    return int(result.scalar_one())


async def insert_user(conn: AsyncConnection, name: str, now: datetime) -> int:
    """Insert a user and return its ID."""
    result = await execute(
        conn, insert(users).values(name=name, created_at=now).returning(users.c.id)
    )
    return int(result.scalar_one())


async def insert_membership(
    conn: AsyncConnection, user_id: int, org_id: int, now: datetime
) -> None:
    """Make a user a member of an organization."""
    await execute(conn, insert(memberships).values(user_id=user_id, org_id=org_id, created_at=now))


async def insert_token(
    conn: AsyncConnection, user_id: int, token_hash: str, prefix: str, now: datetime
) -> int:
    """Store a token's hash for a user and return the token row's ID."""
    result = await execute(
        conn,
        insert(api_tokens)
        .values(user_id=user_id, token_hash=token_hash, prefix=prefix, created_at=now)
        .returning(api_tokens.c.id),
    )
    return int(result.scalar_one())


async def select_organization(conn: AsyncConnection, org_id: int) -> Organization | None:
    """One organization, or None."""
    row = (
        await execute(
            conn,
            select(organizations.c.id, organizations.c.name, organizations.c.created_at).where(
                organizations.c.id == org_id
            ),
        )
    ).one_or_none()
    return (
        None if row is None else Organization(id=row.id, name=row.name, created_at=row.created_at)
    )


async def select_organizations(
    conn: AsyncConnection, limit: int | None = None, after_id: int = 0
) -> list[Organization]:
    """Organizations with IDs above after_id (at most limit of them), oldest first."""
    query = (
        select(organizations.c.id, organizations.c.name, organizations.c.created_at)
        .where(organizations.c.id > after_id)
        .order_by(organizations.c.id)
    )
    rows = await execute(conn, query if limit is None else query.limit(limit))
    return [Organization(id=r.id, name=r.name, created_at=r.created_at) for r in rows]


async def count_organizations(conn: AsyncConnection) -> int:
    """How many organizations exist."""
    rows = await execute(conn, select(organizations.c.id).limit(1))
    return len(rows.all())


async def select_first_member(conn: AsyncConnection, org_id: int) -> int | None:
    """The organization's earliest member (its owner), or None."""
    result = await execute(
        conn,
        select(memberships.c.user_id)
        .where(memberships.c.org_id == org_id)
        .order_by(memberships.c.created_at, memberships.c.user_id)
        .limit(1),
    )
    value = result.scalar_one_or_none()
    return None if value is None else int(value)


async def user_exists(conn: AsyncConnection, user_id: int) -> bool:
    """Whether a user with this ID exists."""
    result = await execute(conn, select(users.c.id).where(users.c.id == user_id))
    return result.scalar_one_or_none() is not None


async def is_member(conn: AsyncConnection, user_id: int, org_id: int) -> bool:
    """Whether the user is a member of the organization."""
    result = await execute(
        conn,
        select(memberships.c.user_id).where(
            memberships.c.user_id == user_id, memberships.c.org_id == org_id
        ),
    )
    return result.scalar_one_or_none() is not None


async def select_live_token_owner(conn: AsyncConnection, token_hash: str) -> tuple[int, str] | None:
    """(user ID, stored hash) of an unrevoked token with this hash, or None."""
    row = (
        await execute(
            conn,
            select(api_tokens.c.user_id, api_tokens.c.token_hash).where(
                api_tokens.c.token_hash == token_hash, api_tokens.c.revoked_at.is_(None)
            ),
        )
    ).one_or_none()
    return None if row is None else (int(row.user_id), str(row.token_hash))


async def select_tokens_of_org(conn: AsyncConnection, org_id: int) -> list[TokenInfo]:
    """Every token of every member of an organization, oldest first."""
    rows = await execute(
        conn,
        select(api_tokens)
        .join(memberships, memberships.c.user_id == api_tokens.c.user_id)
        .where(memberships.c.org_id == org_id)
        .order_by(api_tokens.c.id),
    )
    return [
        TokenInfo(
            id=r.id,
            user_id=r.user_id,
            prefix=r.prefix,
            created_at=r.created_at,
            revoked_at=r.revoked_at,
        )
        for r in rows
    ]


async def token_is_of_org(conn: AsyncConnection, token_id: int, org_id: int) -> bool:
    """Whether the token belongs to a member of the organization."""
    found = await execute(
        conn,
        select(api_tokens.c.id)
        .join(memberships, memberships.c.user_id == api_tokens.c.user_id)
        .where(api_tokens.c.id == token_id, memberships.c.org_id == org_id),
    )
    return found.first() is not None


async def _revoke_live_tokens(
    conn: AsyncConnection, table: Table, match: ColumnElement[bool], now: datetime
) -> int:
    """Revoke the unrevoked rows of a token table that `match`; returns how many."""
    result = await execute(
        conn, update(table).where(match, table.c.revoked_at.is_(None)).values(revoked_at=now)
    )
    return int(result.rowcount)


async def revoke_tokens_where_hash(conn: AsyncConnection, token_hash: str, now: datetime) -> int:
    """Revoke the token with this hash; returns how many were revoked (0 or 1)."""
    return await _revoke_live_tokens(conn, api_tokens, api_tokens.c.token_hash == token_hash, now)


async def revoke_token_by_id(conn: AsyncConnection, token_id: int, now: datetime) -> int:
    """Revoke the token with this row ID; returns how many were revoked (0 or 1)."""
    return await _revoke_live_tokens(conn, api_tokens, api_tokens.c.id == token_id, now)


async def insert_operator_token(
    conn: AsyncConnection, token_hash: str, prefix: str, note: str, now: datetime
) -> int:
    """Store an operator token's hash and return the row's ID."""
    result = await execute(
        conn,
        insert(operator_tokens)
        .values(token_hash=token_hash, prefix=prefix, note=note, created_at=now)
        .returning(operator_tokens.c.id),
    )
    return int(result.scalar_one())


async def select_live_operator_token_hash(conn: AsyncConnection, token_hash: str) -> str | None:
    """The stored hash of an unrevoked operator token with this hash, or None."""
    result = await execute(
        conn,
        select(operator_tokens.c.token_hash).where(
            operator_tokens.c.token_hash == token_hash, operator_tokens.c.revoked_at.is_(None)
        ),
    )
    value = result.scalar_one_or_none()
    return None if value is None else str(value)


async def select_operator_tokens(conn: AsyncConnection) -> list[OperatorTokenInfo]:
    """Every operator token, oldest first."""
    rows = await execute(conn, select(operator_tokens).order_by(operator_tokens.c.id))
    return [
        OperatorTokenInfo(
            id=r.id,
            prefix=r.prefix,
            note=r.note,
            created_at=r.created_at,
            revoked_at=r.revoked_at,
        )
        for r in rows
    ]


async def revoke_operator_token_by_id(conn: AsyncConnection, token_id: int, now: datetime) -> int:
    """Revoke the operator token with this row ID; returns how many were revoked (0 or 1)."""
    return await _revoke_live_tokens(conn, operator_tokens, operator_tokens.c.id == token_id, now)
