"""Organizations, users, API tokens and operator tokens."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tambuli.db.schema import api_tokens, operator_tokens
from tambuli.errors import NotFound, OrganizationNotFound, Unauthorized
from tambuli.organizations import service as organizations
from tambuli.organizations.models import (
    hash_token,
    parse_authorization_header,
)
from tests.conftest import OrgFactory


async def test_a_new_organization_comes_with_a_working_token(
    db: Database, make_org: OrgFactory
) -> None:
    created = await make_org()
    principal = await organizations.authenticate(db, created.token, created.org_id)
    assert principal.org_id == created.org_id
    assert principal.user_id == created.user_id


async def test_tokens_have_at_least_32_bytes_of_entropy_and_are_stored_only_as_hashes(
    db: Database, make_org: OrgFactory
) -> None:
    created = await make_org()
    assert len(created.token) >= 43  # 32 bytes in URL-safe base64
    async with db.read() as conn:
        result = await conn.execute(select(api_tokens.c.token_hash, api_tokens.c.prefix))
        stored = [(str(r.token_hash), str(r.prefix)) for r in result]
    hashes = {row[0] for row in stored}
    prefixes = {row[1] for row in stored}
    assert created.token not in hashes | prefixes
    assert hash_token(created.token) in hashes


async def test_a_token_does_not_open_another_organization(
    db: Database, make_org: OrgFactory
) -> None:
    first = await make_org()
    second = await make_org()
    with pytest.raises(Unauthorized):
        await organizations.authenticate(db, first.token, second.org_id)
    with pytest.raises(Unauthorized):
        await organizations.authenticate(db, first.token, 999_999_999)


async def test_a_member_of_two_organizations_reaches_both_with_one_token(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    first = await make_org()
    second = await make_org()
    await organizations.add_member(db, clock, second.org_id, first.user_id)
    await organizations.add_member(db, clock, second.org_id, first.user_id)  # idempotent
    principal = await organizations.authenticate(db, first.token, second.org_id)
    assert principal.user_id == first.user_id


async def test_unknown_and_revoked_tokens_are_refused(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    created = await make_org()
    extra = await organizations.create_token(db, clock, created.org_id)
    await organizations.authenticate(db, extra, created.org_id)
    await organizations.revoke_token(db, clock, extra)
    with pytest.raises(Unauthorized):
        await organizations.authenticate(db, extra, created.org_id)
    with pytest.raises(NotFound):
        await organizations.revoke_token(db, clock, extra)
    with pytest.raises(Unauthorized):
        await organizations.authenticate(db, "not-a-token", created.org_id)
    # The original token still works.
    await organizations.authenticate(db, created.token, created.org_id)


async def test_tokens_can_be_listed_by_prefix_and_revoked_by_id(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    created = await make_org()
    listed = await organizations.list_tokens(db, created.org_id)
    assert [t.prefix for t in listed] == [created.token[:8]]
    await organizations.revoke_token_id(db, clock, listed[0].id)
    with pytest.raises(Unauthorized):
        await organizations.authenticate(db, created.token, created.org_id)


async def test_token_for_a_missing_organization_is_refused(db: Database, clock: FakeClock) -> None:
    with pytest.raises(OrganizationNotFound):
        await organizations.create_token(db, clock, 987_654_321)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Token abc123", "abc123"),
        ("token abc123", "abc123"),
        ("TOKEN   abc123  ", "abc123"),
        ("Bearer abc123", None),
        ("abc123", None),
        ("Token", None),
        ("Token a b", None),
        ("", None),
        (None, None),
    ],
)
def test_the_authorization_header_needs_the_token_scheme(
    header: str | None, expected: str | None
) -> None:
    assert parse_authorization_header(header) == expected


async def test_operator_tokens_are_stored_only_as_hashes_and_can_be_revoked(
    db: Database, clock: FakeClock
) -> None:
    token = await organizations.create_operator_token(db, clock, "  prometheus  ")
    await organizations.authenticate_operator(db, token)
    async with db.read() as conn:
        stored = {str(r.token_hash) for r in await conn.execute(select(operator_tokens))}
    assert token not in stored
    assert hash_token(token) in stored
    [listed] = [t for t in await organizations.list_operator_tokens(db) if token[:8] == t.prefix]
    assert (listed.note, listed.revoked_at) == ("prometheus", None)
    await organizations.revoke_operator_token(db, clock, listed.id)
    with pytest.raises(Unauthorized):
        await organizations.authenticate_operator(db, token)
    with pytest.raises(NotFound):
        await organizations.revoke_operator_token(db, clock, listed.id)


async def test_an_organization_token_is_not_an_operator_token(
    db: Database, make_org: OrgFactory
) -> None:
    created = await make_org()
    with pytest.raises(Unauthorized):
        await organizations.authenticate_operator(db, created.token)
