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
from tambuli.settings import Settings
from tambuli.topups.desk import TopupDesk


@dataclass
class ApiRuntime:
    """Process-wide objects handed to the API when the app is built."""

    db: Database
    clock: Clock
    settings: Settings
    outbox: Outbox
    # Shares commits between concurrent small writes (contact creates).
    commits: GroupCommit
    # Top-ups: catalogue, provider, and the synchronous attempts still running.
    topups: TopupDesk
    # Shares commits between concurrent single subscriptions.
    subscriptions: SubscriptionIntake
    tokens: TokenCache = field(default_factory=TokenCache)
    # The wake-ups reach this process's workers and, on PostgreSQL, other processes' (NOTIFY).
    # Called after a message is queued, so a worker starts on it at once.
    wake_delivery: Callable[[], None] = lambda: None
    # Called after a subscription or launch, so an in-process worker fires due steps at once.
    wake_campaigns: Callable[[], None] = lambda: None
    # Called after a top-up is queued, so an in-process worker sends it at once.
    wake_topups: Callable[[], None] = lambda: None
    # Called after receipts, inbound SMS or top-up results are recorded, so workers deliver
    # the pushes (and campaign replies) they queued at once.
    wake_events: Callable[[], None] = lambda: None
    # The health of this process's channels; None when it runs no workers.
    read_channel_health: Callable[[], list[ChannelHealth]] | None = None
    # Why this process's worker loops cannot deliver now (empty when they can); None when it
    # runs no workers.
    read_worker_problems: Callable[[], list[str]] | None = None

    def refuse_unless_delivering(self) -> None:
        """NotReady when this process's workers keep failing: take no money for work that
        would not be done."""
        if self.read_worker_problems is not None and (problems := self.read_worker_problems()):
            raise NotReady(context={"reasons": problems})


def runtime_of(request: Request[Any, Any, Any]) -> ApiRuntime:
    """The ApiRuntime the request's app was built with."""
    return runtime_of_app(request.app)


def runtime_of_app(app: Litestar) -> ApiRuntime:
    """The ApiRuntime an app was built with."""
    runtime = app.state["runtime"]
    assert isinstance(runtime, ApiRuntime)
    return runtime
