"""When each step of a run fires: pure functions of the campaign, the run and a moment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from tambuli.campaigns.delays import Relative, choose_delay_zone, compute_fire_time
from tambuli.campaigns.models import CampaignKind, CampaignRules
from tambuli.campaigns.quiet_hours import fit_into_window
from tambuli.campaigns.reminders import compute_reminder_time
from tambuli.errors import InvalidField

# The subscription's `timeZone` "overrides the timezones used to calculate message times in
# Drip and Reminder campaigns" (the spec's subscribeContact).
OVERRIDDEN_KINDS = frozenset({CampaignKind.DRIP, CampaignKind.REMINDER})


@dataclass(frozen=True)
class PlannedStep:
    """A step and the moment it is planned for; None when it depends on replies to come."""

    index: int
    due_at: datetime | None


def plan_step(
    kind: CampaignKind,
    rules: CampaignRules,
    index: int,
    *,
    previous_at: datetime,
    started_at: datetime,
    anchor_at: datetime | None,
    zone: ZoneInfo,
    override: ZoneInfo | None,
) -> datetime:
    """When step `index` fires, inside the sending window.

    `previous_at` is when the previous step fired (the subscription start for the first
    step, the answer's arrival for a poll question that follows an answered one). A step's
    `time` is in its delay's zone (choose_delay_zone), or in `override` (the subscription's
    `timeZone`) on drip and reminder steps; `zone` is the run's, for the sending window and
    the reminder date's calendar.
    """
    step = rules.steps[index]
    step_zone = choose_delay_zone(step.delay, override if kind in OVERRIDDEN_KINDS else None)
    if kind is CampaignKind.REMINDER:
        assert anchor_at is not None, "a reminder run always has its date"
        # The date's days are those of the zone it was read in; its `time` is the step's.
        planned = compute_reminder_time(step.delay, step.before, anchor_at, step_zone, zone)
    else:
        base = started_at if step.delay.relative is Relative.INITIAL else previous_at
        planned = compute_fire_time(step.delay, base, step_zone)
    try:
        return fit_into_window(planned, rules.sending_window, zone)
    except (OverflowError, ValueError) as exc:
        raise InvalidField(
            f"Step {index + 1} would fire beyond the supported calendar", {"field": "delay"}
        ) from exc


def plan_first_step(
    kind: CampaignKind,
    rules: CampaignRules,
    *,
    started_at: datetime,
    anchor_at: datetime | None,
    zone: ZoneInfo,
    override: ZoneInfo | None,
) -> PlannedStep | None:
    """The first step a new run fires, or None when there is none left to fire.

    A reminder skips the steps whose moment passed before the subscription started (a
    subscription one day before the date gets no "3 days before" message).
    """
    for index in range(len(rules.steps)):
        due = plan_step(
            kind,
            rules,
            index,
            previous_at=started_at,
            started_at=started_at,
            anchor_at=anchor_at,
            zone=zone,
            override=override,
        )
        if kind is not CampaignKind.REMINDER or due >= started_at:
            return PlannedStep(index, due)
    return None


def plan_next_step(
    kind: CampaignKind,
    rules: CampaignRules,
    fired_index: int,
    *,
    fired_at: datetime,
    started_at: datetime,
    anchor_at: datetime | None,
    zone: ZoneInfo,
    override: ZoneInfo | None,
) -> PlannedStep | None:
    """The step after `fired_index` and when it fires; None when the run is complete."""
    index = fired_index + 1
    if index >= len(rules.steps):
        return None
    due = plan_step(
        kind,
        rules,
        index,
        previous_at=fired_at,
        started_at=started_at,
        anchor_at=anchor_at,
        zone=zone,
        override=override,
    )
    return PlannedStep(index, due)


def plan_remaining_steps(
    kind: CampaignKind,
    rules: CampaignRules,
    next_index: int,
    *,
    next_due_at: datetime | None,
    started_at: datetime,
    anchor_at: datetime | None,
    zone: ZoneInfo,
    override: ZoneInfo | None,
) -> list[PlannedStep]:
    """Every step still to fire from `next_index`, each counted from the one before it.

    A step after a question waits for its answer, so it (and every step after it) has no moment
    yet: all of a poll's later questions, a drip's steps after its first question.
    """
    planned: list[PlannedStep] = []
    due = next_due_at
    for index in range(next_index, len(rules.steps)):
        if index > next_index:
            if rules.steps[index - 1].question is not None or due is None:
                due = None
            else:
                due = plan_step(
                    kind,
                    rules,
                    index,
                    previous_at=due,
                    started_at=started_at,
                    anchor_at=anchor_at,
                    zone=zone,
                    override=override,
                )
        planned.append(PlannedStep(index, due))
    return planned
