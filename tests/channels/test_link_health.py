"""LinkHealth: a request-per-message channel's link state and counts."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tambuli.channels.base import LinkState
from tambuli.channels.link_health import LinkHealth
from tambuli.clock import FakeClock

DOWN_FOR = timedelta(seconds=30)


def test_an_unreachable_peer_is_down_for_a_while_then_up_again() -> None:
    clock = FakeClock()
    health = LinkHealth(clock, DOWN_FOR)
    assert health.read_state() == LinkState.UP
    health.record_refused(1, "timeout", throttled=False, unreachable=True)
    assert health.read_state() == LinkState.DOWN
    clock.advance(DOWN_FOR - timedelta(seconds=1))
    assert health.read_state() == LinkState.DOWN
    clock.advance(timedelta(seconds=1))
    assert health.read_state() == LinkState.UP


def test_an_accepted_hand_off_ends_the_down_while_at_once() -> None:
    health = LinkHealth(FakeClock(), DOWN_FOR)
    health.record_refused(1, "timeout", throttled=False, unreachable=True)
    health.record_accepted(1)
    assert health.read_state() == LinkState.UP


def test_a_stopped_link_is_stopped_even_while_down() -> None:
    health = LinkHealth(FakeClock(), DOWN_FOR)
    health.record_refused(1, "timeout", throttled=False, unreachable=True)
    health.stopped = True
    assert health.read_state() == LinkState.STOPPED
    health.stopped = False
    assert health.read_state() == LinkState.DOWN


def test_describe_reports_the_counts_and_the_last_error() -> None:
    health = LinkHealth(FakeClock(), DOWN_FOR)
    health.record_accepted(3)
    health.record_refused(2, "throttled", throttled=True, unreachable=False)
    health.record_refused(1, "no route", throttled=False, unreachable=False)
    with health.count_in_flight():
        described = health.describe("vonage", "http", 30.0, 16)
    assert (described.name, described.kind, described.state) == ("vonage", "http", LinkState.UP)
    assert (described.parts_per_second, described.window, described.in_flight) == (30.0, 16, 1)
    assert (described.parts_sent, described.parts_refused, described.throttled) == (3, 3, 1)
    assert described.last_error == "no route"
    assert health.describe("vonage", "http", 30.0, 16).in_flight == 0


def test_a_request_that_raises_leaves_nothing_in_flight() -> None:
    health = LinkHealth(FakeClock(), DOWN_FOR)
    with pytest.raises(RuntimeError), health.count_in_flight():
        raise RuntimeError("boom")
    assert health.in_flight == 0
