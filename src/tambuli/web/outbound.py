"""The sending objects of the API's runtime, shared with the console: the process's services
(tambuli/services.py: one outbox, one top-up desk, one subscription intake) and the workers'
wake-ups.

The console may not import the API, so it reads the runtime the app keeps in its state
through the few attributes it needs. Its wake-ups are the API's own (this process's workers
and, on PostgreSQL, a NOTIFY to the others'), so work queued from a page starts at once, as
work queued through the API does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, cast

from litestar import Request

from tambuli.campaigns.subscription_intake import SubscriptionIntake
from tambuli.messaging.sending import Outbox
from tambuli.services import Services
from tambuli.topups.desk import TopupDesk


class SendingRuntime(Protocol):
    """What the console's send, top-up and campaign pages use of the API's runtime."""

    @property
    def outbox(self) -> Outbox:
        """The process's SMS outbox."""

    @property
    def services(self) -> Services:
        """The process's shared services (their wake_whatsapp wakes the WhatsApp workers)."""

    @property
    def topups(self) -> TopupDesk:
        """The process's top-up desk."""

    @property
    def subscriptions(self) -> SubscriptionIntake:
        """The process's subscription intake."""

    wake_delivery: Callable[[], None]
    wake_campaigns: Callable[[], None]
    wake_topups: Callable[[], None]
    wake_events: Callable[[], None]

    def refuse_unless_delivering(self) -> None:
        """NotReady when this process's workers cannot deliver now."""


def sending_runtime_of(request: Request[Any, Any, Any]) -> SendingRuntime:
    """The runtime of the app serving the request (the API builds it with the app)."""
    return cast(SendingRuntime, request.app.state["runtime"])
