"""The one retry policy: doubling delays with jitter, fixed schedules, and when retrying stops."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tambuli.campaigns.firing import STEP_RETRIES
from tambuli.retries import RetryPolicy, schedule_of_minutes
from tambuli.topups.models import TOPUP_RETRIES
from tambuli.webhooks.models import PUSH_RETRIES

NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def test_delays_double_from_the_base_up_to_the_maximum() -> None:
    policy = RetryPolicy(base=timedelta(seconds=10), maximum=timedelta(minutes=15), jitter=0)
    delays = [policy.find_delay(n) for n in range(1, 10)]
    assert delays[:4] == [timedelta(seconds=s) for s in (10, 20, 40, 80)]
    assert delays[-1] == timedelta(minutes=15)


def test_a_thousandth_failure_waits_the_maximum_without_overflowing() -> None:
    policy = RetryPolicy(jitter=0)
    assert policy.find_delay(1000) == policy.maximum


def test_a_schedule_gives_each_delay_in_turn_and_then_no_retry() -> None:
    policy = RetryPolicy(jitter=0, schedule=schedule_of_minutes(1, 5))
    assert [policy.next_attempt(n, NOW) for n in (1, 2, 3)] == [
        NOW + timedelta(minutes=1),
        NOW + timedelta(minutes=5),
        None,
    ]


def test_failures_count_from_one() -> None:
    with pytest.raises(ValueError):
        RetryPolicy().find_delay(0)


def test_jitter_scales_the_delay_by_the_random_unit() -> None:
    policy = RetryPolicy(base=timedelta(seconds=100), jitter=0.2)
    assert policy.find_delay(1, 0.0) == timedelta(seconds=80)
    assert policy.find_delay(1, 0.5) == timedelta(seconds=100)
    assert policy.find_delay(1, 0.75) == timedelta(seconds=110)


def test_a_retry_due_at_or_after_the_give_up_time_is_none() -> None:
    policy = RetryPolicy(base=timedelta(seconds=10), jitter=0)
    assert policy.next_attempt(1, NOW, give_up_at=NOW + timedelta(seconds=11)) == NOW + timedelta(
        seconds=10
    )
    assert policy.next_attempt(1, NOW, give_up_at=NOW + timedelta(seconds=10)) is None


@given(
    attempts=st.integers(min_value=1, max_value=1000),
    unit=st.floats(min_value=0, max_value=1, exclude_max=True),
    give_up_s=st.integers(min_value=0, max_value=100_000),
)
def test_a_retry_is_always_before_the_give_up_time_and_jitter_stays_in_bounds(
    attempts: int, unit: float, give_up_s: int
) -> None:
    policy = RetryPolicy()
    give_up_at = NOW + timedelta(seconds=give_up_s)
    moment = policy.next_attempt(attempts, NOW, unit, give_up_at=give_up_at)
    nominal = min(policy.base * 2 ** min(attempts - 1, 30), policy.maximum)
    if moment is None:
        assert NOW + nominal * 1.2 >= give_up_at
    else:
        assert NOW < moment < give_up_at
        assert nominal * 0.8 <= moment - NOW <= nominal * 1.2


def test_each_user_keeps_its_published_schedule() -> None:
    assert [STEP_RETRIES.find_delay(n) for n in range(1, 8)] == [
        *schedule_of_minutes(1, 5, 15, 60, 180, 360),
        None,
    ]
    assert [TOPUP_RETRIES.find_delay(n) for n in range(1, 8)] == [
        *schedule_of_minutes(1, 2, 5, 30, 60, 120),
        None,
    ]
    assert (PUSH_RETRIES.base, PUSH_RETRIES.maximum) == (timedelta(seconds=10), timedelta(hours=1))
