"""What the console's pages work with: the database, the clock, the settings and the live
channel health of this process, plus the key that signs its cookies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from litestar import Request

from tambuli.channels.base import ChannelHealth
from tambuli.clock import Clock
from tambuli.db.engine import Database
from tambuli.organizations import users
from tambuli.settings import Settings

CONSOLE_STATE = "console"
# The name of the installation secret made when TAMBULI_SECRET_KEY is unset.
SECRET_NAME = "console_cookie_key"  # noqa: S105 (a name, not the secret)


@dataclass
class ConsoleContext:
    """One per app; kept in the app's state under CONSOLE_STATE."""

    db: Database
    clock: Clock
    settings: Settings
    read_channel_health: Callable[[], list[ChannelHealth]] | None = None
    _signing_key: bytes | None = field(default=None, repr=False)

    async def signing_key(self) -> bytes:
        """TAMBULI_SECRET_KEY, or the key made on first use and kept in the database."""
        if self._signing_key is None:
            text = self.settings.secret_key or await users.read_installation_secret(
                self.db, self.clock, SECRET_NAME
            )
            self._signing_key = text.encode("utf-8")
        return self._signing_key

    def loaded_signing_key(self) -> bytes | None:
        """The signing key if signing_key() has run before, else None (for synchronous code)."""
        return self._signing_key


def console_of(request: Request[Any, Any, Any]) -> ConsoleContext:
    """The console context of the app serving the request."""
    context: ConsoleContext = request.app.state[CONSOLE_STATE]
    return context
