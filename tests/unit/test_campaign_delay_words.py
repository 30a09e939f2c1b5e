"""A step's delay in words, as the console's campaign pages show it."""

from __future__ import annotations

import pytest

from tambuli.campaigns.delay_words import describe_delay
from tambuli.campaigns.delays import parse_delay


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (None, "at once"),
        ({}, "at once"),
        (
            {"unit": "day", "value": 1, "time": "09:00", "timezone": "Asia/Manila"},
            "1 day later at 09:00 Asia/Manila",
        ),
        (
            {"unit": "day", "value": 2, "time": "08:30", "country": "PH"},
            "2 days later at 08:30 PH time",
        ),
        ({"unit": "day", "value": 3, "time": "07:00"}, "3 days later at 07:00 UTC"),
        ({"unit": "hour", "value": 1}, "1 hour later"),
        ({"unit": "minute", "value": 30, "time": "09:00"}, "30 minutes later"),
        (
            {"unit": "day", "value": 0, "time": "09:00", "country": "PH"},
            "at the next 09:00 PH time",
        ),
        (
            {
                "unit": "week",
                "value": 1,
                "time": "09:00",
                "timezone": "Asia/Manila",
                "daysOfWeek": {"monday": True, "friday": True},
            },
            "1 week later on Monday or Friday at 09:00 Asia/Manila",
        ),
        ({"unit": "month", "value": 2, "relative": "initial"}, "2 months after the start"),
        ({"unit": "at", "at": "2027-01-05T01:00:00Z"}, "on 2027-01-05 at 01:00 UTC"),
    ],
)
def test_a_delay_reads_as_words(raw: dict[str, object] | None, words: str) -> None:
    assert describe_delay(parse_delay(raw)) == words


def test_a_reminder_step_counts_before_or_after_its_date() -> None:
    three_days = parse_delay({"unit": "day", "value": 3, "time": "09:00", "country": "PH"})
    assert describe_delay(three_days, before=True, reminder=True) == (
        "3 days before the date at 09:00 PH time"
    )
    assert describe_delay(three_days, reminder=True) == "3 days after the date at 09:00 PH time"
    assert describe_delay(parse_delay(None), reminder=True) == "on the date"
