"""The TopupDesk: what top-ups need besides the request, built once per process."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from tambuli.channels.airtime.base import AirtimeProvider
from tambuli.clock import Clock
from tambuli.db.engine import Database
from tambuli.topups.catalogue_service import CatalogueCache
from tambuli.topups.intake import TopupIntake
from tambuli.topups.outcomes import SyncOutcomes

# A claim outlives the provider's own time limit by half of it (at least this much), so a slow
# but live attempt is never taken over by another worker.
MIN_LEASE_MARGIN = timedelta(seconds=5)


@dataclass
class TopupDesk:
    """What top-ups need besides the request: database, clock, catalogue, provider, limits."""

    db: Database
    clock: Clock
    catalogue: CatalogueCache
    provider: AirtimeProvider
    # A synchronous request waits this long for its first attempt.
    sync_seconds: float = 30.0
    # One provider call may take this long before its outcome counts as unknown.
    attempt_seconds: float = 60.0
    # Attempts that outlived their request's wait; kept so they are not garbage-collected.
    running: set[asyncio.Task[Any]] = field(default_factory=set)
    # Accepted top-ups are written in shared transactions (see intake.py).
    intake: TopupIntake = field(init=False)
    # Where synchronous requests record their providers' answers together.
    sync_outcomes: SyncOutcomes = field(init=False)

    def __post_init__(self) -> None:
        self.intake = TopupIntake(self.db, self.clock, self.lease)
        self.sync_outcomes = SyncOutcomes(self.db, self.clock, self.catalogue, self.provider)

    @property
    def lease(self) -> timedelta:
        """How long a claimed top-up stays with the worker (or request) that claimed it."""
        limit = timedelta(seconds=self.attempt_seconds)
        return limit + max(limit / 2, MIN_LEASE_MARGIN)
