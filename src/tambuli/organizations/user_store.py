"""SQL for console users: emails, passwords, roles, sessions, sign-in links, failed sign-ins
and the installation's own secrets."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.db.schema import (
    console_sessions,
    installation_secrets,
    login_failures,
    memberships,
    organizations,
    sign_in_links,
    users,
)
from tambuli.db.statements import execute
from tambuli.organizations.models import Membership, Role, UserListing


async def insert_console_user(
    conn: AsyncConnection,
    name: str,
    email: str,
    password_hash: str | None,
    is_operator: bool,
    now: datetime,
) -> int:
    """Insert a user who signs in with an email and return the user's ID."""
    result = await execute(
        conn,
        insert(users)
        .values(
            name=name,
            email=email,
            password_hash=password_hash,
            is_operator=is_operator,
            created_at=now,
        )
        .returning(users.c.id),
    )
    return int(result.scalar_one())


async def select_user_row_by_email(conn: AsyncConnection, email: str) -> Any | None:
    """(id, password_hash) of the user with this email, or None."""
    return (
        await execute(conn, select(users.c.id, users.c.password_hash).where(users.c.email == email))
    ).one_or_none()


async def select_user_row(conn: AsyncConnection, user_id: int) -> Any | None:
    """The user's row (id, name, email, password_hash, is_operator), or None."""
    return (
        await execute(
            conn,
            select(
                users.c.id,
                users.c.name,
                users.c.email,
                users.c.password_hash,
                users.c.is_operator,
            ).where(users.c.id == user_id),
        )
    ).one_or_none()


async def update_password_hash(conn: AsyncConnection, user_id: int, password_hash: str) -> None:
    """Replace a user's password hash."""
    await execute(
        conn, update(users).where(users.c.id == user_id).values(password_hash=password_hash)
    )


async def update_operator_flag(conn: AsyncConnection, user_id: int, is_operator: bool) -> None:
    """Make a user an operator of the installation, or not."""
    await execute(conn, update(users).where(users.c.id == user_id).values(is_operator=is_operator))


async def upsert_role(
    conn: AsyncConnection, user_id: int, org_id: int, role: Role, now: datetime
) -> None:
    """Give a user a role in an organization, making them a member if they are not yet."""
    changed = await execute(
        conn,
        update(memberships)
        .where(memberships.c.user_id == user_id, memberships.c.org_id == org_id)
        .values(role=role.value),
    )
    if changed.rowcount == 0:
        await execute(
            conn,
            insert(memberships).values(
                user_id=user_id, org_id=org_id, role=role.value, created_at=now
            ),
        )


async def select_memberships(conn: AsyncConnection, user_id: int) -> list[Membership]:
    """Every organization the user belongs to, by organization ID."""
    rows = await execute(
        conn,
        select(memberships.c.org_id, organizations.c.name, memberships.c.role)
        .join(organizations, organizations.c.id == memberships.c.org_id)
        .where(memberships.c.user_id == user_id)
        .order_by(memberships.c.org_id),
    )
    return [Membership(org_id=r.org_id, org_name=r.name, role=Role(r.role)) for r in rows]


async def select_user_listings(conn: AsyncConnection, org_id: int | None) -> list[UserListing]:
    """Users (of one organization, or all) with their roles, by ID."""
    query = select(
        users.c.id, users.c.name, users.c.email, users.c.is_operator, users.c.password_hash
    )
    if org_id is not None:
        query = query.join(memberships, memberships.c.user_id == users.c.id).where(
            memberships.c.org_id == org_id
        )
    found = (await execute(conn, query.order_by(users.c.id))).all()
    roles: dict[int, list[tuple[int, Role]]] = {}
    role_rows = await execute(
        conn,
        select(memberships.c.user_id, memberships.c.org_id, memberships.c.role)
        .where(memberships.c.user_id.in_([r.id for r in found]))
        .order_by(memberships.c.org_id),
    )
    for r in role_rows:
        roles.setdefault(int(r.user_id), []).append((int(r.org_id), Role(r.role)))
    return [
        UserListing(
            id=r.id,
            name=r.name,
            email=r.email,
            is_operator=bool(r.is_operator),
            has_password=r.password_hash is not None,
            roles=tuple(roles.get(int(r.id), [])),
        )
        for r in found
    ]


async def insert_session(
    conn: AsyncConnection, user_id: int, token_hash: str, now: datetime, expires_at: datetime
) -> None:
    """Store a console session's token hash."""
    await execute(
        conn,
        insert(console_sessions).values(
            user_id=user_id, token_hash=token_hash, created_at=now, expires_at=expires_at
        ),
    )


async def select_session_user(conn: AsyncConnection, token_hash: str, now: datetime) -> int | None:
    """The user of an unexpired session with this token hash, or None."""
    value = (
        await execute(
            conn,
            select(console_sessions.c.user_id).where(
                console_sessions.c.token_hash == token_hash, console_sessions.c.expires_at > now
            ),
        )
    ).scalar_one_or_none()
    return None if value is None else int(value)


async def delete_session(conn: AsyncConnection, token_hash: str) -> None:
    """End one session."""
    await execute(conn, delete(console_sessions).where(console_sessions.c.token_hash == token_hash))


async def delete_sessions_of_user(conn: AsyncConnection, user_id: int, now: datetime) -> None:
    """End every session of a user, and every expired session of anyone on the way."""
    await execute(
        conn,
        delete(console_sessions).where(
            (console_sessions.c.user_id == user_id) | (console_sessions.c.expires_at <= now)
        ),
    )


async def insert_sign_in_link(
    conn: AsyncConnection, user_id: int, token_hash: str, now: datetime, expires_at: datetime
) -> None:
    """Store a one-time sign-in link's token hash."""
    await execute(
        conn,
        insert(sign_in_links).values(
            user_id=user_id, token_hash=token_hash, created_at=now, expires_at=expires_at
        ),
    )


async def use_sign_in_link(conn: AsyncConnection, token_hash: str, now: datetime) -> int | None:
    """Mark an unused, unexpired link used and return its user; None when there is none.

    The compare-and-set on used_at makes a link work once even when two requests race.
    """
    user_id = (
        await execute(
            conn,
            select(sign_in_links.c.user_id).where(
                sign_in_links.c.token_hash == token_hash,
                sign_in_links.c.used_at.is_(None),
                sign_in_links.c.expires_at > now,
            ),
        )
    ).scalar_one_or_none()
    if user_id is None:
        return None
    used = await execute(
        conn,
        update(sign_in_links)
        .where(sign_in_links.c.token_hash == token_hash, sign_in_links.c.used_at.is_(None))
        .values(used_at=now),
    )
    return int(user_id) if used.rowcount == 1 else None


async def count_recent_failures(
    conn: AsyncConnection, email: str, address: str, since: datetime
) -> tuple[int, datetime | None]:
    """How many sign-ins failed for email from address since `since`, and the oldest of them."""
    row = (
        await execute(
            conn,
            select(func.count(), func.min(login_failures.c.failed_at)).where(
                login_failures.c.email == email,
                login_failures.c.address == address,
                login_failures.c.failed_at > since,
            ),
        )
    ).one()
    return int(row[0]), row[1]


async def insert_failure(conn: AsyncConnection, email: str, address: str, now: datetime) -> None:
    """Record a failed sign-in."""
    await execute(conn, insert(login_failures).values(email=email, address=address, failed_at=now))


async def delete_failures(
    conn: AsyncConnection, email: str, address: str, before: datetime
) -> None:
    """Forget the failures of email from address, and everyone's failures older than `before`."""
    await execute(
        conn,
        delete(login_failures).where(
            ((login_failures.c.email == email) & (login_failures.c.address == address))
            | (login_failures.c.failed_at < before)
        ),
    )


async def select_secret(conn: AsyncConnection, name: str) -> str | None:
    """An installation secret, or None when it has not been made yet."""
    value = (
        await execute(
            conn, select(installation_secrets.c.value).where(installation_secrets.c.name == name)
        )
    ).scalar_one_or_none()
    return None if value is None else str(value)


async def insert_secret_unless_present(
    conn: AsyncConnection, name: str, value: str, now: datetime
) -> None:
    """Store an installation secret unless another process stored one under the name first."""
    # ON CONFLICT DO NOTHING: two processes starting together on PostgreSQL both make a secret;
    # the first one stored wins and both read it back.
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    await execute(
        conn,
        dialect.insert(installation_secrets)
        .values(name=name, value=value, created_at=now)
        .on_conflict_do_nothing(index_elements=[installation_secrets.c.name]),
    )


async def lock_organization_row(conn: AsyncConnection, org_id: int) -> bool:
    """Lock the organization's row until the transaction ends (PostgreSQL; SQLite has one
    writer anyway), so two owners leaving at once cannot leave none; False if it is gone."""
    found = await execute(
        conn, select(organizations.c.id).where(organizations.c.id == org_id).with_for_update()
    )
    return found.first() is not None


async def select_person_role(conn: AsyncConnection, user_id: int, org_id: int) -> Role | None:
    """The role in the organization of a user who signs in with an email; None when they
    are not a member or are an API-only user."""
    found = (
        await execute(
            conn,
            select(memberships.c.role)
            .join(users, users.c.id == memberships.c.user_id)
            .where(
                memberships.c.user_id == user_id,
                memberships.c.org_id == org_id,
                users.c.email.is_not(None),
            ),
        )
    ).scalar()
    return None if found is None else Role(found)


async def count_person_owners(conn: AsyncConnection, org_id: int) -> int:
    """How many owners of the organization sign in with an email (API-only users aside)."""
    found = (
        await execute(
            conn,
            select(func.count())
            .select_from(memberships.join(users, users.c.id == memberships.c.user_id))
            .where(
                memberships.c.org_id == org_id,
                memberships.c.role == Role.OWNER.value,
                users.c.email.is_not(None),
            ),
        )
    ).scalar()
    return int(found or 0)


async def delete_membership(conn: AsyncConnection, user_id: int, org_id: int) -> None:
    """Take the user out of the organization."""
    await execute(
        conn,
        delete(memberships).where(memberships.c.user_id == user_id, memberships.c.org_id == org_id),
    )
