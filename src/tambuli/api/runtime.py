"""What every request handler needs: the database, the clock, the settings, the token cache."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from litestar import Litestar, Request

from tambuli.api.token_cache import TokenCache
from tambuli.campaigns.subscription_intake import SubscriptionIntake
from tambuli.channels.base import ChannelHealth
from tambuli.clock import Clock
from tambuli.db.engine import Database
from tambuli.db.group_commit import GroupCommit
from tambuli.errors import NotReady
from tambuli.messaging.sending import Outbox
from tambuli.services import Services
from tambuli.settings import Settings
from tambuli.topups.desk import TopupDesk


@dataclass
class ApiRuntime:
    """Process-wide objects handed to the API when the app is built."""

    # Shared with the console and, in `tambuli serve`, with the workers of the process.
    services: Services
    tokens: TokenCache = field(default_factory=TokenCache)
    # The health of this process's channels; None when it runs no workers.
    read_channel_health: Callable[[], list[ChannelHealth]] | None = None
    # Why this process's worker loops cannot deliver now (empty when they can); None when it
    # runs no workers.
    read_worker_problems: Callable[[], list[str]] | None = None
    # Called after work is queued or recorded, so workers (here and, on PostgreSQL, in other
    # processes) start on it at once: the services' wake-ups.
    wake_delivery: Callable[[], None] = field(init=False)
    wake_campaigns: Callable[[], None] = field(init=False)
    wake_topups: Callable[[], None] = field(init=False)
    wake_events: Callable[[], None] = field(init=False)

    def refuse_unless_delivering(self) -> None:
        """NotReady when this process's workers keep failing: take no money for work that
        would not be done."""
        if self.read_worker_problems is not None and (problems := self.read_worker_problems()):
            raise NotReady(context={"reasons": problems})

    def __post_init__(self) -> None:
        self.wake_delivery = self.services.wake_delivery
        self.wake_campaigns = self.services.wake_campaigns
        self.wake_topups = self.services.wake_topups
        self.wake_events = self.services.wake_events

    @property
    def db(self) -> Database:
        """The process's database."""
        return self.services.db

    @property
    def clock(self) -> Clock:
        """The process's clock."""
        return self.services.clock

    @property
    def settings(self) -> Settings:
        """The process's settings."""
        return self.services.settings

    @property
    def outbox(self) -> Outbox:
        """The process's SMS outbox."""
        return self.services.outbox

    @property
    def commits(self) -> GroupCommit:
        """Shares commits between concurrent small writes (contact creates)."""
        return self.services.commits

    @property
    def topups(self) -> TopupDesk:
        """Top-ups: catalogue, provider, and the synchronous attempts still running."""
        return self.services.topups

    @property
    def subscriptions(self) -> SubscriptionIntake:
        """Shares commits between concurrent single subscriptions."""
        return self.services.subscriptions


def runtime_of(request: Request[Any, Any, Any]) -> ApiRuntime:
    """The ApiRuntime the request's app was built with."""
    return runtime_of_app(request.app)


def runtime_of_app(app: Litestar) -> ApiRuntime:
    """The ApiRuntime an app was built with."""
    runtime = app.state["runtime"]
    assert isinstance(runtime, ApiRuntime)
    return runtime
