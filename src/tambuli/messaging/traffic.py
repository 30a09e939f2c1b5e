"""An organization's SMS traffic per UTC day: sent, delivered, failed, inbound and spend."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from tambuli.db.engine import Database
from tambuli.messaging import traffic_store


@dataclass(frozen=True)
class DayTraffic:
    """One UTC day of an organization's SMS."""

    day: date
    sent: int  # messages the organization sent (accepted for delivery)
    delivered: int  # of those, confirmed delivered to the handset
    failed: int  # of those, refused for good, expired or reported undeliverable
    inbound: int  # messages received from handsets
    spent_micro: int  # what the sent messages cost


def add_up(days: list[DayTraffic], first: date) -> DayTraffic:
    """The sum of the days from `first` on, dated `first`."""
    chosen = [d for d in days if d.day >= first]
    return DayTraffic(
        day=first,
        sent=sum(d.sent for d in chosen),
        delivered=sum(d.delivered for d in chosen),
        failed=sum(d.failed for d in chosen),
        inbound=sum(d.inbound for d in chosen),
        spent_micro=sum(d.spent_micro for d in chosen),
    )


async def read_daily_traffic(
    db: Database, org_id: int, now: datetime, days: int
) -> list[DayTraffic]:
    """The last `days` UTC days up to and including today, oldest first, zeros included."""
    today = now.astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, time(0), tzinfo=UTC)
    until = datetime.combine(today + timedelta(days=1), time(0), tzinfo=UTC)
    async with db.read() as conn:
        rows = await traffic_store.select_daily_counts(conn, org_id, since, until)
    found = {
        date.fromisoformat(str(r.day)): DayTraffic(
            day=date.fromisoformat(str(r.day)),
            sent=int(r.sent or 0),
            delivered=int(r.delivered or 0),
            failed=int(r.failed or 0),
            inbound=int(r.inbound or 0),
            spent_micro=int(r.spent or 0),
        )
        for r in rows
    }
    return [
        found.get(first + timedelta(days=i), DayTraffic(first + timedelta(days=i), 0, 0, 0, 0, 0))
        for i in range(days)
    ]
