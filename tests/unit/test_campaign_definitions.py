"""Campaign definition files: what is accepted, what is refused, and step planning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tambuli.campaigns.models import (
    CampaignKind,
    TimeoutAction,
    choose_text,
    parse_campaign,
)
from tambuli.campaigns.schedule import plan_first_step, plan_next_step, plan_remaining_steps
from tambuli.errors import InvalidField

MANILA = ZoneInfo("Asia/Manila")
LONDON = ZoneInfo("Europe/London")
MINIMAL = {
    "name": "Tips",
    "kind": "drip",
    "openForSubscriptions": True,
    "steps": [
        {"delay": {"unit": "day", "value": 1}, "message": {"default": "Hi", "Bisaya": "Kumusta"}}
    ],
}


def test_the_minimal_file_format_is_accepted() -> None:
    spec = parse_campaign(MINIMAL)
    assert (spec.name, spec.kind, spec.open_for_subscriptions) == ("Tips", CampaignKind.DRIP, True)
    assert spec.rules.steps[0].message == {"default": "Hi", "Bisaya": "Kumusta"}
    assert spec.definition["steps"] == MINIMAL["steps"]
    assert "name" not in spec.definition and "kind" not in spec.definition


def test_a_poll_step_gets_defaults_for_retries_and_timeout() -> None:
    spec = parse_campaign(
        {**MINIMAL, "kind": "poll", "steps": [{"message": "Q?", "choices": ["A"]}]}
    )
    question = spec.rules.steps[0].question
    assert question is not None
    assert (question.max_retries, question.on_timeout) == (2, TimeoutAction.NEXT)
    assert question.timeout.value == 24 and question.retry == {}


def test_a_drip_step_with_poll_fields_is_a_question_and_the_others_are_messages() -> None:
    spec = parse_campaign(
        {
            **MINIMAL,
            "steps": [
                {"message": "Hi"},
                {"message": "Coming? YES or NO", "choices": ["YES", "NO"]},
                {"message": "Any comment?", "timeout": {"unit": "day", "value": 2}},
            ],
        }
    )
    first, yes_no, open_question = spec.rules.steps
    assert first.question is None
    assert yes_no.question is not None and [c.value for c in yes_no.question.choices] == [
        "YES",
        "NO",
    ]
    assert open_question.question is not None and open_question.question.choices == ()
    assert open_question.question.timeout.value == 2


@pytest.mark.parametrize("kind", ["blast", "reminder"])
def test_poll_fields_are_refused_outside_poll_and_drip_campaigns(kind: str) -> None:
    with pytest.raises(InvalidField) as refused:
        parse_campaign({**MINIMAL, "kind": kind, "steps": [{"message": "Q?", "choices": ["A"]}]})
    assert refused.value.message == "steps[0].choices is only for poll and drip campaigns"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"kind": "BLAST"}, "kind"),
        ({"steps": "one"}, "steps"),
        ({"steps": [{"message": "x"}] * 101}, "steps"),
        ({"openForSubscriptions": "yes"}, "openForSubscriptions"),
        ({"steps": [{"message": ""}]}, "steps[0].message"),
        ({"steps": [{"message": {"default": "a\x00b"}}]}, "steps[0].message.default"),
        ({"steps": [{"message": "x" * 10_001}]}, "steps[0].message"),
        ({"steps": [{"message": "x", "delay": "tomorrow"}]}, "steps[0].delay"),
        ({"steps": [{"message": "x", "surprise": 1}]}, "steps[0].surprise"),
        ({"kind": "poll", "steps": [{"message": "x", "maxRetries": 11}]}, "steps[0].maxRetries"),
        ({"kind": "poll", "steps": [{"message": "x", "maxRetries": True}]}, "steps[0].maxRetries"),
        (
            {
                "kind": "poll",
                "steps": [
                    {"message": "x", "timeout": {"unit": "at", "at": "2026-01-01T00:00:00Z"}}
                ],
            },
            "steps[0].timeout",
        ),
        ({"kind": "poll", "steps": [{"message": "x", "onTimeout": "stop"}]}, "steps[0].onTimeout"),
        ({"reminderDate": {"arg": "date"}}, "reminderDate"),
        ({"kind": "reminder", "reminderDate": {"arg": "", "customField": " "}}, "reminderDate"),
        ({"sender": 5}, "sender"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_bad_definitions_name_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidField) as refused:
        parse_campaign({**MINIMAL, **change})
    assert refused.value.context is not None
    assert refused.value.context["field"] == field


def test_the_contacts_language_picks_the_text_without_case() -> None:
    texts = {"default": "Hello", "Tagalog": "Kumusta"}
    assert choose_text(texts, "TAGALOG") == "Kumusta"
    assert choose_text(texts, " tagalog ") == "Kumusta"
    assert choose_text(texts, "Ilocano") == "Hello"
    assert choose_text(texts, "") == "Hello"


def test_drip_steps_count_from_the_previous_step_or_the_start() -> None:
    spec = parse_campaign(
        {
            **MINIMAL,
            "steps": [
                {"message": "a", "delay": {"unit": "day", "value": 1, "time": "09:00"}},
                {"message": "b", "delay": {"unit": "day", "value": 2}},
                {"message": "c", "delay": {"unit": "day", "value": 10, "relative": "initial"}},
            ],
        }
    )
    start = datetime(2026, 1, 30, 12, 0, tzinfo=UTC)
    # A subscription with timeZone Asia/Manila: it sets the time of day of drip steps.
    first = plan_first_step(
        spec.kind, spec.rules, started_at=start, anchor_at=None, zone=MANILA, override=MANILA
    )
    assert first is not None and first.index == 0
    assert first.due_at == datetime(2026, 1, 31, 9, 0, tzinfo=MANILA)
    remaining = plan_remaining_steps(
        spec.kind,
        spec.rules,
        0,
        next_due_at=first.due_at,
        started_at=start,
        anchor_at=None,
        zone=MANILA,
        override=MANILA,
    )
    assert [p.due_at for p in remaining] == [
        datetime(2026, 1, 31, 9, 0, tzinfo=MANILA),
        datetime(2026, 2, 2, 9, 0, tzinfo=MANILA),
        start + timedelta(days=10),
    ]
    assert (
        plan_next_step(
            spec.kind,
            spec.rules,
            2,
            fired_at=start,
            started_at=start,
            anchor_at=None,
            zone=MANILA,
            override=MANILA,
        )
        is None
    )


def test_a_window_moves_planned_steps_to_its_opening_in_local_time() -> None:
    spec = parse_campaign(
        {
            **MINIMAL,
            "sendingWindow": {"from": "09:00", "until": "17:00"},
            "steps": [{"message": "a", "delay": {"unit": "hour", "value": 1}}],
        }
    )
    # 2026-03-28 23:30 UTC + 1 h = 00:30 on the night London springs forward.
    start = datetime(2026, 3, 28, 23, 30, tzinfo=UTC)
    first = plan_first_step(
        spec.kind, spec.rules, started_at=start, anchor_at=None, zone=LONDON, override=None
    )
    assert first is not None
    assert first.due_at == datetime(2026, 3, 29, 9, 0, tzinfo=LONDON)
    assert first.due_at.astimezone(UTC).hour == 8


def test_a_polls_later_questions_have_no_moment_until_answered() -> None:
    spec = parse_campaign(
        {**MINIMAL, "kind": "poll", "steps": [{"message": "1?"}, {"message": "2?"}]}
    )
    start = datetime(2026, 1, 1, tzinfo=UTC)
    remaining = plan_remaining_steps(
        spec.kind,
        spec.rules,
        0,
        next_due_at=start,
        started_at=start,
        anchor_at=None,
        zone=MANILA,
        override=None,
    )
    assert [(p.index, p.due_at) for p in remaining] == [(0, start), (1, None)]


def test_a_step_time_is_in_its_delays_zone_else_its_countrys_else_utc_not_the_contacts() -> None:
    steps = [
        {"message": "a", "delay": {"unit": "day", "value": 1, "time": "09:00"}},
        {"message": "b", "delay": {"unit": "day", "value": 1, "time": "09:00", "country": "PH"}},
        {
            "message": "c",
            "delay": {"unit": "day", "value": 1, "time": "09:00", "timezone": "Europe/London"},
        },
    ]
    spec = parse_campaign({**MINIMAL, "steps": steps})
    start = datetime(2026, 1, 30, 12, 0, tzinfo=UTC)
    # A Philippine contact without a subscription timeZone: the run's zone is Manila, but only
    # the sending window and the schedule's local times use it.
    planned = plan_remaining_steps(
        spec.kind,
        spec.rules,
        0,
        next_due_at=datetime(2026, 1, 31, 9, 0, tzinfo=UTC),
        started_at=start,
        anchor_at=None,
        zone=MANILA,
        override=None,
    )
    assert [p.due_at for p in planned] == [
        datetime(2026, 1, 31, 9, 0, tzinfo=UTC),
        datetime(2026, 2, 1, 9, 0, tzinfo=MANILA),
        datetime(2026, 2, 2, 9, 0, tzinfo=LONDON),
    ]
    # The subscription's timeZone overrides every drip step's zone, its own included.
    overridden = plan_remaining_steps(
        spec.kind,
        spec.rules,
        0,
        next_due_at=datetime(2026, 1, 31, 9, 0, tzinfo=MANILA),
        started_at=start,
        anchor_at=None,
        zone=MANILA,
        override=MANILA,
    )
    assert [p.due_at for p in overridden][1:] == [
        datetime(2026, 2, 1, 9, 0, tzinfo=MANILA),
        datetime(2026, 2, 2, 9, 0, tzinfo=MANILA),
    ]


def test_a_subscription_time_zone_does_not_override_blast_or_poll_step_times() -> None:
    for kind, steps in (
        ("blast", [{"message": "a", "delay": {"unit": "day", "value": 1, "time": "09:00"}}]),
        ("poll", [{"message": "a?", "delay": {"unit": "day", "value": 1, "time": "09:00"}}]),
    ):
        spec = parse_campaign({**MINIMAL, "kind": kind, "steps": steps})
        start = datetime(2026, 1, 30, 12, 0, tzinfo=UTC)
        first = plan_first_step(
            spec.kind, spec.rules, started_at=start, anchor_at=None, zone=MANILA, override=MANILA
        )
        assert first is not None
        assert first.due_at == datetime(2026, 1, 31, 9, 0, tzinfo=UTC), kind
