"""Console users: accounts, roles, passwords, sessions, sign-in links and throttling."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest

from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tambuli.errors import (
    InvalidInput,
    OrganizationNotFound,
    SignInRefused,
    TooManySignInAttempts,
)
from tambuli.organizations import users
from tambuli.organizations.models import Role
from tests.conftest import OrgFactory

PASSWORD = "correct horse battery"


def new_email() -> str:
    return f"user-{secrets.token_hex(6)}@example.org"


async def test_a_user_created_with_a_password_signs_in_with_it(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    email = new_email()
    user_id = await users.create_console_user(db, clock, org.org_id, email, Role.EDITOR, PASSWORD)
    assert await users.verify_sign_in(db, clock, email.upper(), PASSWORD, "127.0.0.1") == user_id
    user = await users.get_console_user(db, user_id)
    assert user.email == email
    assert user.has_password
    membership = user.membership_in(org.org_id)
    assert membership is not None and membership.role is Role.EDITOR


async def test_the_password_is_stored_as_an_argon2id_hash(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    from sqlalchemy import select

    from tambuli.db.schema import users as users_table

    org = await make_org()
    user_id = await users.create_console_user(
        db, clock, org.org_id, new_email(), Role.VIEWER, PASSWORD
    )
    async with db.read() as conn:
        stored = (
            await conn.execute(
                select(users_table.c.password_hash).where(users_table.c.id == user_id)
            )
        ).scalar_one()
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


async def test_a_wrong_password_and_an_unknown_email_are_refused_alike(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    email = new_email()
    await users.create_console_user(db, clock, org.org_id, email, Role.OWNER, PASSWORD)
    with pytest.raises(SignInRefused) as wrong:
        await users.verify_sign_in(db, clock, email, "not the password", "127.0.0.1")
    with pytest.raises(SignInRefused) as unknown:
        await users.verify_sign_in(db, clock, new_email(), PASSWORD, "127.0.0.1")
    assert wrong.value.message == unknown.value.message


async def test_a_short_password_is_refused(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    with pytest.raises(InvalidInput):
        await users.create_console_user(db, clock, org.org_id, new_email(), Role.OWNER, "short")


async def test_a_user_in_an_unknown_organization_is_refused(db: Database, clock: FakeClock) -> None:
    with pytest.raises(OrganizationNotFound):
        await users.create_console_user(db, clock, 999_999_999, new_email(), Role.OWNER)


async def test_creating_the_same_email_in_a_second_organization_adds_a_membership(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    first, second = await make_org(name="First"), await make_org(name="Second")
    email = new_email()
    user_id = await users.create_console_user(db, clock, first.org_id, email, Role.OWNER)
    again = await users.create_console_user(db, clock, second.org_id, email, Role.VIEWER)
    assert again == user_id
    user = await users.get_console_user(db, user_id)
    assert [(m.org_id, m.role) for m in user.memberships] == [
        (first.org_id, Role.OWNER),
        (second.org_id, Role.VIEWER),
    ]


async def test_five_failures_make_the_sixth_try_wait_until_the_window_passes(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    email = new_email()
    await users.create_console_user(db, clock, org.org_id, email, Role.OWNER, PASSWORD)
    for _ in range(5):
        with pytest.raises(SignInRefused):
            await users.verify_sign_in(db, clock, email, "wrong password", "10.0.0.1")
    with pytest.raises(TooManySignInAttempts) as throttled:
        await users.verify_sign_in(db, clock, email, PASSWORD, "10.0.0.1")
    assert 0 < throttled.value.retry_after_seconds <= 15 * 60 + 1
    # Another address is not held back by these failures.
    assert await users.verify_sign_in(db, clock, email, PASSWORD, "10.0.0.2") > 0
    clock.advance(timedelta(minutes=15, seconds=1))
    assert await users.verify_sign_in(db, clock, email, PASSWORD, "10.0.0.1") > 0


async def test_a_session_reads_its_user_until_it_is_ended(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    user_id = await users.create_console_user(db, clock, org.org_id, new_email(), Role.OWNER)
    token = await users.start_session(db, clock, user_id)
    found = await users.read_session(db, clock, token)
    assert found is not None and found.id == user_id
    await users.end_session(db, token)
    assert await users.read_session(db, clock, token) is None


async def test_a_session_expires_after_two_weeks(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    user_id = await users.create_console_user(db, clock, org.org_id, new_email(), Role.OWNER)
    token = await users.start_session(db, clock, user_id)
    clock.advance(timedelta(days=14, seconds=1))
    assert await users.read_session(db, clock, token) is None


async def test_changing_the_password_ends_every_session_of_the_user(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    email = new_email()
    user_id = await users.create_console_user(db, clock, org.org_id, email, Role.OWNER, PASSWORD)
    phone = await users.start_session(db, clock, user_id)
    laptop = await users.start_session(db, clock, user_id)
    with pytest.raises(InvalidInput):
        await users.change_password(db, clock, user_id, "not it at all", "a new long password")
    await users.change_password(db, clock, user_id, PASSWORD, "a new long password")
    assert await users.read_session(db, clock, phone) is None
    assert await users.read_session(db, clock, laptop) is None
    with pytest.raises(SignInRefused):
        await users.verify_sign_in(db, clock, email, PASSWORD, "127.0.0.1")
    assert await users.verify_sign_in(db, clock, email, "a new long password", "127.0.0.1")


async def test_a_sign_in_link_works_once_and_only_for_a_day(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    user_id = await users.create_console_user(db, clock, org.org_id, new_email(), Role.OWNER)
    token = await users.create_sign_in_link_token(db, clock, user_id)
    assert await users.use_sign_in_link(db, clock, token) == user_id
    with pytest.raises(SignInRefused):
        await users.use_sign_in_link(db, clock, token)
    late = await users.create_sign_in_link_token(db, clock, user_id)
    clock.advance(timedelta(hours=24, seconds=1))
    with pytest.raises(SignInRefused):
        await users.use_sign_in_link(db, clock, late)


async def test_a_user_signed_in_by_link_sets_a_first_password_without_a_current_one(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    email = new_email()
    user_id = await users.create_console_user(db, clock, org.org_id, email, Role.OWNER)
    await users.change_password(db, clock, user_id, None, PASSWORD)
    assert await users.verify_sign_in(db, clock, email, PASSWORD, "127.0.0.1") == user_id


async def test_the_installation_secret_is_made_once_and_then_kept(
    db: Database, clock: FakeClock
) -> None:
    name = f"test-{secrets.token_hex(4)}"
    first = await users.read_installation_secret(db, clock, name)
    assert len(first) >= 48
    assert await users.read_installation_secret(db, clock, name) == first


async def test_user_listing_shows_roles_per_organization(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    email = new_email()
    user_id = await users.create_console_user(db, clock, org.org_id, email, Role.VIEWER)
    listed = await users.list_users(db, org.org_id)
    mine = next(u for u in listed if u.id == user_id)
    assert mine.email == email
    assert mine.roles == ((org.org_id, Role.VIEWER),)
    assert not mine.has_password
    # The owner made with the organization is listed too, as its owner.
    assert any(u.roles == ((org.org_id, Role.OWNER),) for u in listed if u.id != user_id)
