"""Owners change roles and remove people; an organization always keeps an owner who signs in.
Also the paged reads the console uses: tokens revoked per organization, ledger and
organization pages."""

from __future__ import annotations

import asyncio

import pytest

from tambuli.billing import service as billing
from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tambuli.errors import InvalidInput, NotFound
from tambuli.organizations import service as organizations
from tambuli.organizations import users
from tambuli.organizations.models import Role, UserListing
from tests.conftest import OrgFactory


async def _person(db: Database, clock: FakeClock, org_id: int, role: Role, n: int) -> int:
    return await users.create_console_user(db, clock, org_id, f"p{n}-{org_id}@example.org", role)


def _role(listed: list[UserListing], user_id: int, org_id: int) -> Role | None:
    found = next(u for u in listed if u.id == user_id)
    return next((r for o, r in found.roles if o == org_id), None)


async def test_the_last_owner_who_signs_in_can_be_neither_demoted_nor_removed(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    owner = await _person(db, clock, org.org_id, Role.OWNER, 1)
    with pytest.raises(InvalidInput, match="at least one owner"):
        await users.change_role(db, clock, org.org_id, owner, Role.EDITOR)
    with pytest.raises(InvalidInput, match="at least one owner"):
        await users.remove_member(db, org.org_id, owner)
    editor = await _person(db, clock, org.org_id, Role.EDITOR, 2)
    await users.change_role(db, clock, org.org_id, editor, Role.OWNER)
    await users.change_role(db, clock, org.org_id, owner, Role.VIEWER)
    await users.remove_member(db, org.org_id, owner)
    listed = await users.list_users(db, org.org_id)
    assert [u.id for u in listed if u.email] == [editor]
    assert _role(listed, editor, org.org_id) is Role.OWNER


async def test_the_organizations_api_user_is_not_managed_as_a_person(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    await _person(db, clock, org.org_id, Role.OWNER, 1)
    with pytest.raises(NotFound):
        await users.remove_member(db, org.org_id, org.user_id)
    with pytest.raises(NotFound):
        await users.change_role(db, clock, org.org_id, org.user_id, Role.VIEWER)


@pytest.mark.parametrize("attempts", [30])
async def test_owners_demoting_each_other_at_once_leave_exactly_one_owner(
    db: Database, clock: FakeClock, make_org: OrgFactory, attempts: int
) -> None:
    org = await make_org()
    owners = [await _person(db, clock, org.org_id, Role.OWNER, n) for n in range(attempts)]

    async def demote(user_id: int) -> bool:
        try:
            await users.change_role(db, clock, org.org_id, user_id, Role.EDITOR)
        except InvalidInput:
            return False
        return True

    results = await asyncio.gather(*(demote(u) for u in owners))
    assert results.count(False) == 1
    listed = await users.list_users(db, org.org_id)
    assert [u for u in owners if _role(listed, u, org.org_id) is Role.OWNER] == [
        owners[results.index(False)]
    ]


async def test_a_token_is_revoked_only_through_its_own_organization(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    other = await make_org()
    [theirs] = await organizations.list_tokens(db, other.org_id)
    with pytest.raises(NotFound):
        await organizations.revoke_org_token(db, clock, org.org_id, theirs.id)
    await organizations.revoke_org_token(db, clock, other.org_id, theirs.id)
    with pytest.raises(NotFound):
        await organizations.revoke_org_token(db, clock, other.org_id, theirs.id)


async def test_ledger_entries_and_organizations_are_read_a_page_at_a_time(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    for amount in range(1, 8):
        await billing.credit_balance(db, clock, org.org_id, amount, "credit")
    first = await billing.list_ledger_entries(db, org.org_id, 3)
    second = await billing.list_ledger_entries(db, org.org_id, 3, first[-1].id)
    assert [e.amount_micro for e in first + second] == [7, 6, 5, 4, 3, 2]
    after = (await make_org()).org_id
    later = [(await make_org()).org_id for _ in range(3)]
    page = await organizations.list_organizations(db, 2, after)
    assert [o.id for o in page] == later[:2]
