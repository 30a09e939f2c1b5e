"""An organization's SMS per UTC day, as the console's dashboard shows it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tambuli.clock import FakeClock
from tambuli.db.engine import Database
from tambuli.messaging.traffic import add_up, read_daily_traffic
from tests.conftest import OrgFactory
from tests.support.traffic import PastMessage, insert_past_messages

NOW = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)


async def test_daily_traffic_counts_each_outcome_on_its_utc_day(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org, other = await make_org(), await make_org()
    yesterday_late = datetime(2026, 3, 9, 23, 59, 59, tzinfo=UTC)
    await insert_past_messages(
        db,
        org.org_id,
        [
            PastMessage(NOW, receipt="confirmed", charged_micro=20_000),
            PastMessage(NOW, receipt="failed", charged_micro=20_000),
            PastMessage(NOW, status="failed"),
            PastMessage(NOW, direction="ingress", status="received"),
            PastMessage(yesterday_late, receipt="confirmed", charged_micro=40_000),
            PastMessage(NOW - timedelta(days=6), charged_micro=1),
            # Outside the 30 days, and another organization's: neither counts.
            PastMessage(NOW - timedelta(days=30), charged_micro=5),
        ],
    )
    await insert_past_messages(db, other.org_id, [PastMessage(NOW, charged_micro=7)])
    days = await read_daily_traffic(db, org.org_id, NOW, 30)
    assert len(days) == 30 and days[-1].day == NOW.date()
    today, yesterday = days[-1], days[-2]
    assert (today.sent, today.delivered, today.failed, today.inbound) == (3, 1, 2, 1)
    assert today.spent_micro == 40_000
    assert (yesterday.sent, yesterday.delivered, yesterday.spent_micro) == (1, 1, 40_000)
    week = add_up(days, NOW.date() - timedelta(days=6))
    assert (week.sent, week.spent_micro) == (5, 80_001)
    month = add_up(days, days[0].day)
    assert month.sent == 5


async def test_a_quiet_organization_gets_thirty_days_of_zeros(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    days = await read_daily_traffic(db, org.org_id, NOW, 30)
    assert [d.sent + d.inbound + d.spent_micro for d in days] == [0] * 30
    assert days[0].day == NOW.date() - timedelta(days=29)


async def test_days_over_for_more_than_a_day_are_counted_once_and_kept(
    db: Database, clock: FakeClock, make_org: OrgFactory
) -> None:
    org = await make_org()
    five_days_ago, yesterday = NOW - timedelta(days=5), NOW - timedelta(days=1)
    await insert_past_messages(
        db, org.org_id, [PastMessage(five_days_ago), PastMessage(yesterday), PastMessage(NOW)]
    )
    first = await read_daily_traffic(db, org.org_id, NOW, 30)
    assert [d.sent for d in first[-6:]] == [1, 0, 0, 0, 1, 1]
    # A late change to a settled day is not counted again; yesterday and today are live.
    await insert_past_messages(
        db, org.org_id, [PastMessage(five_days_ago), PastMessage(yesterday), PastMessage(NOW)]
    )
    again = await read_daily_traffic(db, org.org_id, NOW, 30)
    assert [d.sent for d in again[-6:]] == [1, 0, 0, 0, 2, 2]
    # The next day, yesterday has settled with what it had by then.
    later = await read_daily_traffic(db, org.org_id, NOW + timedelta(days=1), 30)
    assert [d.sent for d in later[-7:]] == [1, 0, 0, 0, 2, 2, 0]
