"""An organization's SMS traffic per UTC day: sent, delivered, failed, inbound and spend."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

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


# Days that ended more than this long ago are counted once and their totals kept: later
# changes to their messages (a receipt days late, a retry past its deadline) are rare, and
# counting a month of messages on every view would not stay fast at a million messages.
SETTLED_AFTER = timedelta(days=1)


async def read_daily_traffic(
    db: Database, org_id: int, now: datetime, days: int
) -> list[DayTraffic]:
    """The last `days` UTC days up to and including today, oldest first, zeros included.

    Settled days come from their kept totals (counted and kept here the first time they are
    asked for); the others are counted from the messages each time.
    """
    today = now.astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    # The last settled day: it ended more than SETTLED_AFTER ago.
    settled_until = min(today, (now.astimezone(UTC) - SETTLED_AFTER).date()) - timedelta(days=1)
    found: dict[date, DayTraffic] = {}
    if settled_until >= first:
        found.update(await _read_settled_days(db, org_id, first, settled_until, now))
    live_from = max(first, settled_until + timedelta(days=1))
    async with db.read() as conn:
        rows = await traffic_store.select_daily_counts(
            conn, org_id, _midnight(live_from), _midnight(today + timedelta(days=1))
        )
    found.update(_from_counts(rows))
    return [
        found.get(first + timedelta(days=i), _zero(first + timedelta(days=i))) for i in range(days)
    ]


async def _read_settled_days(
    db: Database, org_id: int, first: date, last: date, now: datetime
) -> dict[date, DayTraffic]:
    async with db.read() as conn:
        kept = await traffic_store.select_day_totals(
            conn, org_id, first.isoformat(), last.isoformat()
        )
    found = {
        date.fromisoformat(r.day): DayTraffic(
            date.fromisoformat(r.day), r.sent, r.delivered, r.failed, r.inbound, r.spent_micro
        )
        for r in kept
    }
    missing = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    missing = [d for d in missing if d not in found]
    if not missing:
        return found
    # One range over the missing days (usually one: yesterday's yesterday).
    async with db.read() as conn:
        rows = await traffic_store.select_daily_counts(
            conn, org_id, _midnight(missing[0]), _midnight(missing[-1] + timedelta(days=1))
        )
    counted = _from_counts(rows)
    totals = [counted.get(d, _zero(d)) for d in missing]
    async with db.write() as conn:
        await traffic_store.insert_day_totals(
            conn,
            [
                {
                    "org_id": org_id,
                    "day": t.day.isoformat(),
                    "sent": t.sent,
                    "delivered": t.delivered,
                    "failed": t.failed,
                    "inbound": t.inbound,
                    "spent_micro": t.spent_micro,
                    "counted_at": now,
                }
                for t in totals
            ],
        )
    found.update({t.day: t for t in totals})
    return found


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _zero(day: date) -> DayTraffic:
    return DayTraffic(day, 0, 0, 0, 0, 0)


def _from_counts(rows: list[Any]) -> dict[date, DayTraffic]:
    return {
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
