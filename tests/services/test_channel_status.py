"""Channel health written by worker processes and read by any process (channel_status)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tambuli.channels.base import ChannelHealth, LinkState
from tambuli.db.engine import Database
from tambuli.messaging.channel_status import (
    FORGET_AFTER,
    STALE_AFTER,
    forget_process,
    read_channel_health,
    write_channel_health,
)

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
STARTED = NOW - timedelta(hours=1)


def health(name: str, state: LinkState = LinkState.UP, sent: int = 0) -> ChannelHealth:
    return ChannelHealth(
        name=name,
        kind="smpp",
        state=state,
        parts_per_second=12.5,
        window=10,
        in_flight=3,
        parts_sent=sent,
        parts_refused=2,
        throttled=1,
        reconnects=4,
        last_error="bind failed: refused",
    )


async def test_each_process_replaces_its_own_rows_and_reads_see_all(fresh_db: Database) -> None:
    await write_channel_health(fresh_db, NOW, "a:1", STARTED, [health("globe"), health("smart")])
    await write_channel_health(fresh_db, NOW, "b:2", STARTED, [health("globe", sent=7)])
    later = NOW + timedelta(seconds=5)
    # Process a no longer runs "smart" (its configuration changed): the row goes.
    await write_channel_health(fresh_db, later, "a:1", STARTED, [health("globe", sent=9)])

    reported = await read_channel_health(fresh_db, later)

    assert [(r.health.name, r.process, r.health.parts_sent) for r in reported] == [
        ("globe", "a:1", 9),
        ("globe", "b:2", 7),
    ]
    first = reported[0]
    assert first.health == health("globe", sent=9)
    assert (first.started_at, first.updated_at, first.stale) == (STARTED, later, False)


async def test_rows_not_refreshed_in_time_are_stale_and_old_ones_are_pruned(
    fresh_db: Database,
) -> None:
    await write_channel_health(fresh_db, NOW, "dead:1", STARTED, [health("globe", LinkState.DOWN)])
    await write_channel_health(fresh_db, NOW, "long-dead:2", STARTED, [health("smart")])
    moment = NOW + STALE_AFTER + timedelta(seconds=1)
    await write_channel_health(fresh_db, moment, "alive:3", STARTED, [health("globe")])

    reported = await read_channel_health(fresh_db, moment)
    assert [(r.process, r.stale, r.health.state) for r in reported] == [
        ("alive:3", False, LinkState.UP),
        ("dead:1", True, LinkState.DOWN),
        ("long-dead:2", True, LinkState.UP),
    ]

    much_later = NOW + FORGET_AFTER + timedelta(seconds=1)
    await write_channel_health(fresh_db, much_later, "alive:3", STARTED, [health("globe")])
    reported = await read_channel_health(fresh_db, much_later)
    assert [r.process for r in reported] == ["alive:3"]


async def test_a_stopping_process_removes_only_its_own_rows(fresh_db: Database) -> None:
    await write_channel_health(fresh_db, NOW, "a:1", STARTED, [health("globe")])
    await write_channel_health(fresh_db, NOW, "b:2", STARTED, [health("globe")])

    await forget_process(fresh_db, "a:1")

    assert [r.process for r in await read_channel_health(fresh_db, NOW)] == ["b:2"]
