"""What the scheduler, replies and unsubscriptions decide for a run, before it is stored.

A `RunChange` names one run and what changes on it; every field left None stays as stored.
Its `move` says where the run goes next (its next step, a question's timeout, a later try,
a pause or its end). The store turns each change into the run's new column values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tambuli.campaigns.models import RunStatus


@dataclass(frozen=True)
class NextStep:
    """The run waits for step `index`, due at `due_at`."""

    index: int
    due_at: datetime


@dataclass(frozen=True)
class AwaitReply:
    """The run's question went out at `sent_at`; it waits for an answer until `timeout_at`."""

    sent_at: datetime
    timeout_at: datetime


@dataclass(frozen=True)
class FireAt:
    """The same step fires again at `at` (a refusal's retry, or the sending window's opening)."""

    at: datetime


@dataclass(frozen=True)
class Paused:
    """The campaign was stopped: the run waits for its relaunch."""


@dataclass(frozen=True)
class Ended:
    """The run is over with `status` at `at`: it fires no more and frees its contact."""

    status: RunStatus
    at: datetime
    # The index past the last step, when the run ends because no step is left.
    step_index: int | None = None


Move = NextStep | AwaitReply | FireAt | Paused | Ended


@dataclass(frozen=True)
class RunChange:
    """What changes on one run; a field left None stays as it is."""

    run_id: int
    move: Move | None = None
    attempts: int | None = None
    last_error: str | None = None
    # Only ever set (True): once a step failed, the run reads as done with failures.
    with_failures: bool | None = None
    steps_sent: int | None = None
    last_message_id: int | None = None
    invalid_replies: int | None = None
