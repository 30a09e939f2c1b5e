"""Top-up rules: the retry schedule, lookups of pending top-ups, IDs and references."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tambuli.topups.models import (
    TOPUP_RETRIES,
    find_lookup_at,
    format_topup_id,
    make_attempt_reference,
    parse_topup_id,
)

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def test_retries_follow_the_published_schedule_then_stop() -> None:
    delays = [TOPUP_RETRIES.next_attempt(n, NOW) for n in range(1, 8)]
    assert delays == [
        NOW + timedelta(minutes=1),
        NOW + timedelta(minutes=2),
        NOW + timedelta(minutes=5),
        NOW + timedelta(minutes=30),
        NOW + timedelta(minutes=60),
        NOW + timedelta(minutes=120),
        None,
    ]


def test_pending_topups_are_looked_up_sooner_at_first_and_at_most_every_five_minutes() -> None:
    assert find_lookup_at(timedelta(0), NOW) == NOW + timedelta(seconds=5)
    assert find_lookup_at(timedelta(seconds=5), NOW) == NOW + timedelta(seconds=10)
    assert find_lookup_at(timedelta(hours=3), NOW) == NOW + timedelta(minutes=5)


@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    ),
    st.integers(1, 10**15),
    st.integers(1, 10**15),
)
def test_topup_ids_round_trip(created: datetime, org_id: int, row_id: int) -> None:
    text = format_topup_id(created, org_id, row_id)
    key = parse_topup_id(text)
    assert key is not None and (key.org_id, key.row_id) == (org_id, row_id)


@pytest.mark.parametrize(
    "text", ["", "TOPUP", "SMS20260101T000000-1-1", "TOPUP20260101T000000-1-", "TOPUP2026-1-1"]
)
def test_text_that_is_no_topup_id_parses_to_none(text: str) -> None:
    assert parse_topup_id(text) is None


def test_every_attempt_has_its_own_reference() -> None:
    topup_id = format_topup_id(NOW, 3, 41)
    references = {make_attempt_reference(topup_id, n) for n in range(1, 8)}
    assert len(references) == 7 and all(r.startswith(topup_id) for r in references)
