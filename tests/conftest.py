"""Fixtures shared by the whole suite: one database per backend, clocks, organizations, servers.

Every test that touches a database runs once on SQLite and, when TAMBULI_TEST_DATABASE_URL is
set, once more on PostgreSQL. Tests isolate themselves by creating their own organizations.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from tambuli.billing import service as billing
from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tambuli.organizations import service as organizations
from tambuli.organizations.models import NewOrganization
from tests.support.databases import migrated_database, postgres_url, scratch_database_url
from tests.support.server import RunningServer, running_server

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]

OrgFactory = Callable[..., Awaitable[NewOrganization]]


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend a test runs on."""
    name = str(request.param)
    if name == "postgres" and postgres_url() is None:
        pytest.skip("postgres: TAMBULI_TEST_DATABASE_URL is not set")
    return name


@pytest.fixture(scope="session")
async def db(backend: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Database]:
    """A migrated database shared by the session (one per backend)."""
    async with migrated_database(backend, tmp_path_factory.mktemp("db")) as database:
        yield database


@pytest.fixture
async def fresh_db(backend: str, tmp_path: Path) -> AsyncIterator[Database]:
    """An empty, migrated database of its own for a test that needs one."""
    async with migrated_database(backend, tmp_path) as database:
        yield database


@pytest.fixture
async def fresh_database_url(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of an empty, unmigrated database of its own."""
    async with scratch_database_url(backend, tmp_path) as url:
        yield url


@pytest.fixture
def clock() -> FakeClock:
    """A clock the test moves by hand."""
    return FakeClock()


@pytest.fixture
def make_org(db: Database, clock: FakeClock) -> OrgFactory:
    """Create an organization (with an optional balance in micro-USD) in the shared database."""

    async def create(balance_micro: int = 0, name: str = "Test org") -> NewOrganization:
        created = await organizations.create_organization(db, clock, name)
        if balance_micro:
            await billing.credit_balance(db, clock, created.org_id, balance_micro, "test funds")
        return created

    return create


@pytest.fixture(scope="session")
def server(db: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A real `tambuli serve` process on the session database of the backend."""
    with running_server(db.url, tmp_path_factory.mktemp("server")) as running:
        yield running
