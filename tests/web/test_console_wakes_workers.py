"""The console wakes the workers as the API does: with the workers' polls an hour apart, a
campaign launched and a group subscribed from the console still get their steps sent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from tambuli.billing import service as billing
from tambuli.campaigns import service as campaigns
from tambuli.clock import FakeClock, SystemClock
from tambuli.contacts import phones
from tambuli.contacts import service as contacts
from tambuli.contacts.models import ContactInput
from tambuli.db.engine import Database
from tambuli.db.schema import campaign_runs, messages
from tambuli.organizations import service as organizations
from tambuli.organizations.models import Role
from tambuli.organizations.profile import update_profile
from tests.support.polling import wait_for_async
from tests.support.server import RunningServer, running_server
from tests.web.console_client import ConsoleBrowser, make_person

# Longer than any test waits: only a wake-up can get a step sent in time.
SLEEPY = {"TAMBULI_WORKER_POLL_SECONDS": "3600", "TAMBULI_WORKER_IDLE_POLL_SECONDS": "3600"}
FARMER = "639171234042"
WELCOME, TIP = "Welcome to farm tips", "Tip one: plant early"
TIPS = {
    "name": "Farm tips",
    "kind": "drip",
    "steps": [{"message": WELCOME}, {"delay": {"unit": "second", "value": 1}, "message": TIP}],
}
# Sent: queued by the step, then handed to the (simulated) operator by a delivery worker.
GONE_OUT = ("accepted", "delivered")


@pytest.fixture
def sleepy_server(fresh_database_url: str, tmp_path: Path) -> Iterator[RunningServer]:
    """A server of its own database whose workers look for work by themselves once an hour."""
    with running_server(fresh_database_url, tmp_path, extra_env=SLEEPY) as running:
        yield running


async def _texts_to(db: Database, number: str) -> list[tuple[str, str]]:
    async with db.read() as conn:
        rows = await conn.execute(
            select(messages.c.body, messages.c.status)
            .where(messages.c.recipient == number, messages.c.direction == "egress")
            .order_by(messages.c.id)
        )
        return [(r[0], r[1]) for r in rows]


async def _next_fire_at_passed(db: Database) -> bool:
    async with db.read() as conn:
        due = (await conn.execute(select(campaign_runs.c.next_fire_at))).scalar_one()
    return due is not None and due <= SystemClock().now()


async def test_a_console_subscribe_and_relaunch_send_steps_without_waiting_for_a_poll(
    sleepy_server: RunningServer, clock: FakeClock
) -> None:
    db = Database(sleepy_server.database_url)
    browser = ConsoleBrowser(sleepy_server.base_url)
    try:
        org = await organizations.create_organization(db, clock, "Farmers")
        await billing.credit_balance(db, clock, org.org_id, 10_000_000, "test funds")
        await update_profile(db, org.org_id, default_sender_id="Farm")
        group = await contacts.create_group(db, clock, org.org_id, "Rice farmers")
        await contacts.create_contact(
            db,
            clock,
            org.org_id,
            phones.normalise_full_number(FARMER),
            ContactInput(first_name="Ana", groups=[group.id]),
        )
        campaign = await campaigns.create_campaign(db, clock, org.org_id, TIPS)
        browser.sign_in(await make_person(db, clock, org.org_id, Role.EDITOR))
        page = f"/orgs/{org.org_id}/campaigns/{campaign.id}"

        assert browser.submit(page, page + "/launch", {}).status_code == 303
        subscribed = browser.submit(
            page, page + "/subscribe", {"mode": "group", "group": str(group.id)}
        )
        assert subscribed.status_code == 303, subscribed.text
        await wait_for_async(lambda: _handed_to_the_operator(db, WELCOME), seconds=60)

        # Stopped, the second step comes due; the relaunch sends it.
        assert browser.submit(page, page + "/stop", {}).status_code == 303
        await wait_for_async(lambda: _next_fire_at_passed(db), seconds=60)
        assert browser.submit(page, page + "/launch", {}).status_code == 303
        await wait_for_async(lambda: _handed_to_the_operator(db, WELCOME, TIP), seconds=60)
    finally:
        browser.close()
        await db.dispose()


async def _handed_to_the_operator(db: Database, *bodies: str) -> bool:
    found = await _texts_to(db, FARMER)
    return [body for body, _ in found] == list(bodies) and all(s in GONE_OUT for _, s in found)
