"""Use cases for organizations, members, API tokens and operator tokens; each owns its
transaction."""

from __future__ import annotations

from tambuli.clock import Clock
from tambuli.db.engine import Database
from tambuli.errors import InvalidInput, NotFound, OrganizationNotFound, Unauthorized
from tambuli.organizations import store
from tambuli.organizations.models import (
    NewOrganization,
    OperatorTokenInfo,
    Organization,
    Principal,
    TokenInfo,
    generate_token,
    hash_token,
    token_matches,
    token_prefix,
)
from tambuli.organizations.profile import OrgProfile, write_profile_within

MAX_NAME_LENGTH = 200


def _check_name(name: str) -> str:
    cleaned = name.strip()
    if not cleaned:
        raise InvalidInput("The organization name must not be empty")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise InvalidInput(f"The organization name is longer than {MAX_NAME_LENGTH} characters")
    return cleaned


async def create_organization(
    db: Database, clock: Clock, name: str, *, default_sender_id: str = ""
) -> NewOrganization:
    """Create an organization, its owner user and the owner's first API token.

    `default_sender_id` (already checked by the caller) is stored in the same commit.
    """
    cleaned = _check_name(name)
    token = generate_token()
    now = clock.now()
    async with db.write() as conn:
        org_id = await store.insert_organization(conn, cleaned, now)
        user_id = await store.insert_user(conn, f"Owner of {cleaned}", now)
        await store.insert_membership(conn, user_id, org_id, now)
        await store.insert_token(conn, user_id, hash_token(token), token_prefix(token), now)
        if default_sender_id:
            profile = OrgProfile(org_id=org_id, default_sender_id=default_sender_id)
            await write_profile_within(conn, profile)
    return NewOrganization(org_id=org_id, user_id=user_id, token=token)


async def get_organization(db: Database, org_id: int) -> Organization:
    """One organization; OrganizationNotFound when it does not exist."""
    async with db.read() as conn:
        org = await store.select_organization(conn, org_id)
    if org is None:
        raise OrganizationNotFound(f"No organization with ID {org_id}")
    return org


async def list_organizations(
    db: Database, limit: int | None = None, after_id: int = 0
) -> list[Organization]:
    """Organizations oldest first: all of them, or a page of `limit` after after_id."""
    async with db.read() as conn:
        return await store.select_organizations(conn, limit, after_id)


async def has_any_organization(db: Database) -> bool:
    """Whether the database has at least one organization."""
    async with db.read() as conn:
        return await store.count_organizations(conn) > 0


async def create_user_in_organization(db: Database, clock: Clock, org_id: int, name: str) -> int:
    """Create a user who is a member of the organization; returns the user's ID."""
    now = clock.now()
    async with db.write() as conn:
        if await store.select_organization(conn, org_id) is None:
            raise OrganizationNotFound(f"No organization with ID {org_id}")
        user_id = await store.insert_user(conn, name.strip() or "user", now)
        await store.insert_membership(conn, user_id, org_id, now)
    return user_id


async def add_member(db: Database, clock: Clock, org_id: int, user_id: int) -> None:
    """Make an existing user a member of another organization (idempotent)."""
    async with db.write() as conn:
        if await store.select_organization(conn, org_id) is None:
            raise OrganizationNotFound(f"No organization with ID {org_id}")
        if not await store.user_exists(conn, user_id):
            raise NotFound(f"No user with ID {user_id}")
        if not await store.is_member(conn, user_id, org_id):
            await store.insert_membership(conn, user_id, org_id, clock.now())


async def create_token(db: Database, clock: Clock, org_id: int, user_id: int | None = None) -> str:
    """A new API token for a member of the organization (its owner by default)."""
    token = generate_token()
    async with db.write() as conn:
        if await store.select_organization(conn, org_id) is None:
            raise OrganizationNotFound(f"No organization with ID {org_id}")
        owner = user_id if user_id is not None else await store.select_first_member(conn, org_id)
        if owner is None or not await store.is_member(conn, owner, org_id):
            raise NotFound(f"User {user_id} is not a member of organization {org_id}")
        await store.insert_token(conn, owner, hash_token(token), token_prefix(token), clock.now())
    return token


async def list_tokens(db: Database, org_id: int) -> list[TokenInfo]:
    """The tokens of the organization's members (prefixes only)."""
    async with db.read() as conn:
        if await store.select_organization(conn, org_id) is None:
            raise OrganizationNotFound(f"No organization with ID {org_id}")
        return await store.select_tokens_of_org(conn, org_id)


async def revoke_token(db: Database, clock: Clock, token: str) -> None:
    """Revoke a token given in full; NotFound if it is unknown or already revoked."""
    async with db.write() as conn:
        revoked = await store.revoke_tokens_where_hash(conn, hash_token(token), clock.now())
    if revoked == 0:
        raise NotFound("No live token matches")


async def revoke_token_id(db: Database, clock: Clock, token_id: int) -> None:
    """Revoke a token by the ID `tambuli token list` shows."""
    async with db.write() as conn:
        revoked = await store.revoke_token_by_id(conn, token_id, clock.now())
    if revoked == 0:
        raise NotFound(f"No live token with ID {token_id}")


async def revoke_org_token(db: Database, clock: Clock, org_id: int, token_id: int) -> None:
    """Revoke a token of one of the organization's members; NotFound for any other token."""
    async with db.write() as conn:
        if not await store.token_is_of_org(conn, token_id, org_id):
            raise NotFound(f"No live token with ID {token_id}")
        revoked = await store.revoke_token_by_id(conn, token_id, clock.now())
    if revoked == 0:
        raise NotFound(f"No live token with ID {token_id}")


async def identify_token_user(db: Database, token: str) -> int:
    """The user a live token belongs to; Unauthorized otherwise."""
    async with db.read() as conn:
        found = await store.select_live_token_owner(conn, hash_token(token))
    # The lookup is by hash; comparing again in constant time keeps timing independent of
    # how much of a guessed token was right.
    if found is None or not token_matches(token, found[1]):
        raise Unauthorized()
    return found[0]


async def authenticate(db: Database, token: str, org_id: int) -> Principal:
    """The caller behind a token acting in an organization; Unauthorized when not allowed."""
    async with db.read() as conn:
        found = await store.select_live_token_owner(conn, hash_token(token))
        if found is None or not token_matches(token, found[1]):
            raise Unauthorized()
        if not await store.is_member(conn, found[0], org_id):
            raise Unauthorized()
    return Principal(user_id=found[0], org_id=org_id)


MAX_NOTE_LENGTH = 200


async def create_operator_token(db: Database, clock: Clock, note: str = "") -> str:
    """A new operator token (status and metrics of the whole installation, no organization)."""
    cleaned = note.strip()
    if len(cleaned) > MAX_NOTE_LENGTH:
        raise InvalidInput(f"The note is longer than {MAX_NOTE_LENGTH} characters")
    token = generate_token()
    async with db.write() as conn:
        await store.insert_operator_token(
            conn, hash_token(token), token_prefix(token), cleaned, clock.now()
        )
    return token


async def list_operator_tokens(db: Database) -> list[OperatorTokenInfo]:
    """Every operator token (prefixes only)."""
    async with db.read() as conn:
        return await store.select_operator_tokens(conn)


async def revoke_operator_token(db: Database, clock: Clock, token_id: int) -> None:
    """Revoke an operator token by the ID `tambuli operator token list` shows."""
    async with db.write() as conn:
        revoked = await store.revoke_operator_token_by_id(conn, token_id, clock.now())
    if revoked == 0:
        raise NotFound(f"No live operator token with ID {token_id}")


async def authenticate_operator(db: Database, token: str) -> None:
    """Return when the token is a live operator token; Unauthorized otherwise.

    Organization tokens are not operator tokens: they name one organization, and what an
    operator reads spans every organization.
    """
    async with db.read() as conn:
        stored = await store.select_live_operator_token_hash(conn, hash_token(token))
    if stored is None or not token_matches(token, stored):
        raise Unauthorized()
