"""Use cases for people who sign in to the console: accounts, roles, passwords, sessions,
one-time sign-in links and sign-in throttling; each owns its transaction.

API tokens (service.py) are untouched by all of this: a user may hold both.
"""

from __future__ import annotations

import secrets

from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.clock import Clock
from tambuli.db.engine import Database
from tambuli.errors import (
    InvalidInput,
    NotFound,
    OrganizationNotFound,
    SignInRefused,
    TooManySignInAttempts,
)
from tambuli.organizations import store, user_store
from tambuli.organizations.models import (
    SESSION_LIFETIME,
    SIGN_IN_FAILURE_WINDOW,
    SIGN_IN_FAILURES_ALLOWED,
    SIGN_IN_LINK_LIFETIME,
    ConsoleUser,
    Role,
    UserListing,
    check_new_password,
    generate_token,
    hash_token,
    normalise_email,
)
from tambuli.organizations.passwords import hash_password_soon, verify_password_soon

# Client addresses are kept as text of at most this many characters (an IPv6 address is 45).
MAX_ADDRESS_LENGTH = 64


async def create_console_user(
    db: Database,
    clock: Clock,
    org_id: int,
    email: str,
    role: Role,
    password: str | None = None,
    name: str = "",
) -> int:
    """Give the person with this email `role` in the organization, creating their account if
    it is new (with the password, when one is given); returns the user's ID."""
    user_id, _ = await _grant_role(db, clock, org_id, email, role, password, name)
    return user_id


async def invite_person(
    db: Database, clock: Clock, org_id: int, email: str, role: Role
) -> str | None:
    """What an organization's owner does to add a person: give the role, and for a new
    account return a one-time sign-in link token. An existing account gets no link: it may
    belong to other organizations, whose data this owner must not reach."""
    user_id, is_new = await _grant_role(db, clock, org_id, email, role, None, "")
    if not is_new:
        return None
    return await create_sign_in_link_token(db, clock, user_id)


async def _grant_role(
    db: Database,
    clock: Clock,
    org_id: int,
    email: str,
    role: Role,
    password: str | None,
    name: str,
) -> tuple[int, bool]:
    address = normalise_email(email)
    password_hash = (
        None if password is None else await hash_password_soon(check_new_password(password))
    )
    now = clock.now()
    async with db.write() as conn:
        if await store.select_organization(conn, org_id) is None:
            raise OrganizationNotFound(f"No organization with ID {org_id}")
        found = await user_store.select_user_row_by_email(conn, address)
        if found is None:
            user_id = await user_store.insert_console_user(
                conn, name.strip()[:200] or address, address, password_hash, False, now
            )
        else:
            user_id = int(found.id)
            if password_hash is not None:
                await user_store.update_password_hash(conn, user_id, password_hash)
                await user_store.delete_sessions_of_user(conn, user_id, now)
        await user_store.upsert_role(conn, user_id, org_id, role, now)
    return user_id, found is None


async def change_role(db: Database, clock: Clock, org_id: int, user_id: int, role: Role) -> None:
    """Give a person in the organization another role; it always keeps at least one owner
    who signs in. API-only users (the organization's token holder) are not changed here."""
    async with db.write() as conn:
        current = await _locked_role(conn, org_id, user_id)
        if current is Role.OWNER and role is not Role.OWNER:
            await _keep_an_owner(conn, org_id)
        await user_store.upsert_role(conn, user_id, org_id, role, clock.now())


async def remove_member(db: Database, org_id: int, user_id: int) -> None:
    """Take a person out of the organization (never its last owner); their API tokens stop
    working here, as every token is checked against membership."""
    async with db.write() as conn:
        current = await _locked_role(conn, org_id, user_id)
        if current is Role.OWNER:
            await _keep_an_owner(conn, org_id)
        await user_store.delete_membership(conn, user_id, org_id)


async def _locked_role(conn: AsyncConnection, org_id: int, user_id: int) -> Role:
    if not await user_store.lock_organization_row(conn, org_id):
        raise OrganizationNotFound(f"No organization with ID {org_id}")
    role = await user_store.select_person_role(conn, user_id, org_id)
    if role is None:
        raise NotFound(f"User {user_id} is not a member of organization {org_id}")
    return role


async def _keep_an_owner(conn: AsyncConnection, org_id: int) -> None:
    if await user_store.count_person_owners(conn, org_id) <= 1:
        raise InvalidInput(
            "An organization keeps at least one owner: make someone else an owner first"
        )


async def set_operator(db: Database, user_id: int, is_operator: bool) -> None:
    """Make a user an operator of the installation (the console's operator pages), or not."""
    async with db.write() as conn:
        if not await store.user_exists(conn, user_id):
            raise NotFound(f"No user with ID {user_id}")
        await user_store.update_operator_flag(conn, user_id, is_operator)


async def list_users(db: Database, org_id: int | None = None) -> list[UserListing]:
    """Users with their roles: one organization's, or everyone's."""
    async with db.read() as conn:
        if org_id is not None and await store.select_organization(conn, org_id) is None:
            raise OrganizationNotFound(f"No organization with ID {org_id}")
        return await user_store.select_user_listings(conn, org_id)


async def get_console_user(db: Database, user_id: int) -> ConsoleUser:
    """A user with their memberships; NotFound when there is no such user."""
    async with db.read() as conn:
        user = await _read_console_user(conn, user_id)
    if user is None:
        raise NotFound(f"No user with ID {user_id}")
    return user


async def _read_console_user(conn: AsyncConnection, user_id: int) -> ConsoleUser | None:
    row = await user_store.select_user_row(conn, user_id)
    if row is None:
        return None
    return ConsoleUser(
        id=int(row.id),
        name=row.name,
        email=row.email or "",
        is_operator=bool(row.is_operator),
        has_password=row.password_hash is not None,
        memberships=tuple(await user_store.select_memberships(conn, user_id)),
    )


def _clean_address(address: str) -> str:
    return address[:MAX_ADDRESS_LENGTH]


async def verify_sign_in(
    db: Database, clock: Clock, email: str, password: str, address: str
) -> int:
    """The user whose email and password these are; SignInRefused otherwise, and
    TooManySignInAttempts after too many recent failures for that email from that address."""
    try:
        typed = normalise_email(email)
    except InvalidInput:
        raise SignInRefused() from None
    client = _clean_address(address)
    now = clock.now()
    since = now - SIGN_IN_FAILURE_WINDOW
    async with db.read() as conn:
        failures, oldest = await user_store.count_recent_failures(conn, typed, client, since)
        found = await user_store.select_user_row_by_email(conn, typed)
    if failures >= SIGN_IN_FAILURES_ALLOWED and oldest is not None:
        wait = (oldest + SIGN_IN_FAILURE_WINDOW - now).total_seconds()
        raise TooManySignInAttempts(max(1, int(wait) + 1))
    stored = None if found is None else found.password_hash
    # Verified even without a user, so a refusal takes as long for an unknown email.
    matches = await verify_password_soon(password[:1000], stored)
    async with db.write() as conn:
        if not matches or found is None:
            await user_store.insert_failure(conn, typed, client, now)
        else:
            await user_store.delete_failures(conn, typed, client, since)
    if not matches or found is None:
        raise SignInRefused()
    return int(found.id)


async def start_session(db: Database, clock: Clock, user_id: int) -> str:
    """A new console session for the user; returns its token (stored only as a hash)."""
    token = generate_token()
    now = clock.now()
    async with db.write() as conn:
        await user_store.insert_session(
            conn, user_id, hash_token(token), now, now + SESSION_LIFETIME
        )
    return token


async def read_session(db: Database, clock: Clock, token: str) -> ConsoleUser | None:
    """The signed-in user of a live session token, or None."""
    async with db.read() as conn:
        user_id = await user_store.select_session_user(conn, hash_token(token), clock.now())
        if user_id is None:
            return None
        return await _read_console_user(conn, user_id)


async def end_session(db: Database, token: str) -> None:
    """Sign one session out (nothing happens for an unknown token)."""
    async with db.write() as conn:
        await user_store.delete_session(conn, hash_token(token))


async def change_password(
    db: Database, clock: Clock, user_id: int, current: str | None, new: str
) -> None:
    """Set a new password and sign the user out everywhere. `current` must match the password
    the user has (None is accepted only for a user who has none yet, after a sign-in link)."""
    chosen = check_new_password(new)
    async with db.read() as conn:
        row = await user_store.select_user_row(conn, user_id)
    if row is None:
        raise NotFound(f"No user with ID {user_id}")
    if row.password_hash is not None and not await verify_password_soon(
        current or "", row.password_hash
    ):
        raise InvalidInput("The current password is not right")
    new_hash = await hash_password_soon(chosen)
    async with db.write() as conn:
        await user_store.update_password_hash(conn, user_id, new_hash)
        await user_store.delete_sessions_of_user(conn, user_id, clock.now())


async def create_sign_in_link_token(db: Database, clock: Clock, user_id: int) -> str:
    """A one-time token for a sign-in link, valid for a day (stored only as a hash)."""
    token = generate_token()
    now = clock.now()
    async with db.write() as conn:
        if not await store.user_exists(conn, user_id):
            raise NotFound(f"No user with ID {user_id}")
        await user_store.insert_sign_in_link(
            conn, user_id, hash_token(token), now, now + SIGN_IN_LINK_LIFETIME
        )
    return token


async def use_sign_in_link(db: Database, clock: Clock, token: str) -> int:
    """The user a one-time link token signs in, marking it used; SignInRefused when it is
    unknown, used or expired."""
    async with db.write() as conn:
        user_id = await user_store.use_sign_in_link(conn, hash_token(token), clock.now())
    if user_id is None:
        raise SignInRefused("This sign-in link is unknown, used or expired")
    return user_id


async def read_installation_secret(db: Database, clock: Clock, name: str) -> str:
    """An installation-wide secret, made and stored on first use."""
    async with db.read() as conn:
        found = await user_store.select_secret(conn, name)
    if found is not None:
        return found
    async with db.write() as conn:
        await user_store.insert_secret_unless_present(
            conn, name, secrets.token_urlsafe(48), clock.now()
        )
        stored = await user_store.select_secret(conn, name)
    assert stored is not None
    return stored
