"""A full disk refuses writes with `server.storagefull`, logs its start and end once, recovers.

SQLite is filled for real: `PRAGMA max_page_count` caps the database at its current size on
every connection the pool hands out, so SQLite answers SQLITE_FULL exactly as on a full disk,
and raising the cap is the disk getting room again. PostgreSQL reports a full disk as SQLSTATE
53100; the server raises that very condition here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import event, func, select

from tambuli.api.app import build_app
from tambuli.api.runtime import runtime_of_app
from tambuli.api.send_lane import SendLane
from tambuli.billing import service as billing
from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tambuli.db.schema import messages
from tambuli.errors import StorageFull
from tambuli.organizations import service as organizations
from tambuli.organizations.models import NewOrganization
from tambuli.services import build_services
from tambuli.settings import Settings

FUNDS = 10_000_000
# Sends tried before the capped database must have filled (each leaf page holds a few rows).
MOST_SENDS_BEFORE_FULL = 400
STORAGE_LOGGER = "tambuli.storage"


class PageCap:
    """`PRAGMA max_page_count` applied to every connection the database's pool hands out."""

    def __init__(self, db: Database) -> None:
        self.pages = 1 << 30
        event.listen(db.engine.sync_engine, "checkout", self._apply)

    def _apply(self, dbapi_connection: Any, *_: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA max_page_count = {self.pages}")
        cursor.close()


async def _page_count(db: Database) -> int:
    async with db.read() as conn:
        return int((await conn.exec_driver_sql("PRAGMA page_count")).scalar_one())


@dataclass
class FullWorld:
    """The served app on a database the test can fill, and a funded organization."""

    db: Database
    client: httpx.AsyncClient
    org: NewOrganization

    async def send(self) -> httpx.Response:
        """POST /v1/sms/phonenumber as the organization."""
        body = json.dumps(
            {
                "orgId": self.org.org_id,
                "from": "Tambuli",
                "message": "A message long enough to need room of its own " * 3,
                "fullPhoneNumber": "639171234567",
            }
        )
        headers = {"Authorization": f"Token {self.org.token}", "Content-Type": "application/json"}
        return await self.client.post("/v1/sms/phonenumber", content=body, headers=headers)

    async def message_count(self) -> int:
        """Messages stored for the organization."""
        async with self.db.read() as conn:
            query = select(func.count()).select_from(messages)
            query = query.where(messages.c.org_id == self.org.org_id)
            return int((await conn.execute(query)).scalar_one())


@pytest.fixture
async def full_world(fresh_db: Database, clock: FakeClock) -> AsyncIterator[FullWorld]:
    """The API (through the send lane, as served) on the test's own database."""
    org = await organizations.create_organization(fresh_db, clock, "Funded")
    await billing.credit_balance(fresh_db, clock, org.org_id, FUNDS, "test funds")
    app = build_app(build_services(fresh_db, clock, Settings()))
    transport = httpx.ASGITransport(app=SendLane(app, runtime_of_app(app)))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://tambuli.test") as client:
        yield FullWorld(fresh_db, client, org)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_a_full_disk_answers_503_storagefull_charges_nothing_and_recovers(
    full_world: FullWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    cap = PageCap(full_world.db)
    cap.pages = await _page_count(full_world.db)
    accepted = 0
    refused: list[httpx.Response] = []
    for _ in range(MOST_SENDS_BEFORE_FULL):
        answer = await full_world.send()
        if answer.status_code == 200:
            accepted += 1
            continue
        refused.append(answer)
        if len(refused) == 3:
            break
    assert len(refused) == 3, "the capped database never filled"
    for answer in refused:
        assert answer.status_code == 503, answer.text
        assert answer.json()["errorCode"] == "server.storagefull"
        assert answer.headers["retry-after"]
    balance = (await billing.get_balance(full_world.db, full_world.org.org_id)).balance_micro
    per_message = (FUNDS - balance) // accepted if accepted else 0
    assert balance == FUNDS - accepted * per_message
    assert await full_world.message_count() == accepted
    ready = await full_world.client.get("/readyz")
    assert ready.status_code == 503
    assert any("is full" in reason for reason in ready.json()["reasons"])

    cap.pages = 1 << 30
    assert (await full_world.send()).status_code == 200

    storage_lines = [r for r in caplog.records if r.name == STORAGE_LOGGER]
    assert [r.levelname for r in storage_lines] == ["ERROR", "WARNING"]
    assert "is full" in storage_lines[0].getMessage()
    assert "3 writes were refused" in storage_lines[1].getMessage()
    assert not [r for r in caplog.records if r.exc_info], "a full disk must not log tracebacks"
    assert (await full_world.client.get("/readyz")).status_code == 200


async def _raise_disk_full(db: Database) -> None:
    """A write that fails the way a full disk makes it fail, on either backend."""
    async with db.write() as conn:
        if db.is_sqlite:
            await conn.exec_driver_sql("CREATE TABLE filler (x BLOB)")
            await conn.exec_driver_sql("INSERT INTO filler VALUES (zeroblob(1000000))")
        else:
            await conn.exec_driver_sql(
                "DO $$ BEGIN RAISE EXCEPTION 'could not extend file' USING ERRCODE = 'disk_full';"
                " END $$"
            )


async def test_a_disk_full_error_becomes_storagefull_and_ends_at_the_next_commit(
    fresh_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    if fresh_db.is_sqlite:
        PageCap(fresh_db).pages = await _page_count(fresh_db)
    for _ in range(2):
        with pytest.raises(StorageFull):
            await _raise_disk_full(fresh_db)
    assert fresh_db.storage.full
    assert fresh_db.storage.describe_problems()

    async with fresh_db.write() as conn:
        await conn.exec_driver_sql("SELECT 1")

    assert not fresh_db.storage.full
    lines = [r.getMessage() for r in caplog.records if r.name == STORAGE_LOGGER]
    assert len(lines) == 2
    assert "2 writes were refused" in lines[1]
