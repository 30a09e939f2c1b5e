"""The Cloud API access token of each business number: the environment variable it names.

A number is registered with the NAME of a variable (`--token-env`), never the token, so the
token lives only in the environment of the processes that send or fetch media. This keeps the
phone-number-id → variable name pairs the channels need (they know numbers only by their
phone-number-id) and reads the variable whenever a token is wanted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping

from tambuli.channels.secrets import Secret
from tambuli.channels.whatsapp.cloud_graph import TokenFinder, find_tokens_in_environ
from tambuli.db.engine import Database
from tambuli.whatsapp import number_store
from tambuli.whatsapp.number_store import BusinessNumber

# How long the API's copy of the registered numbers is used before it is read again.
RELOAD_SECONDS = 5.0
# A webhook whose media could not be fetched reads the numbers again at once (the number may be
# new), but not more often than this: during a provider outage every body fails alike.
RELOAD_ON_MISS_SECONDS = 0.2


class AccessTokens:
    """Tokens of business numbers by phone-number-id, read from the variables they name."""

    def __init__(
        self, environ: Mapping[str, str], monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._environ = environ
        self._monotonic = monotonic
        self._variables: dict[str, str] = {}
        self._loaded_at: float | None = None

    def remember(self, numbers: Iterable[BusinessNumber]) -> None:
        """Learn (or update) these numbers' variable names."""
        for number in numbers:
            self._variables[number.phone_number_id] = number.token_env

    async def reload_if_stale(self, db: Database, max_age: float = RELOAD_SECONDS) -> bool:
        """Read every registered number again when the last read is `max_age` seconds old;
        whether it did."""
        now = self._monotonic()
        if self._loaded_at is not None and now - self._loaded_at < max_age:
            return False
        async with db.read() as conn:
            numbers = await number_store.select_numbers(conn, None)
        # Cleared in place: the finders handed out read this very dict.
        self._variables.clear()
        self.remember(numbers)
        self._loaded_at = now
        return True

    def find_token_or(self, fallback: Secret | None) -> TokenFinder:
        """A token finder for one channel: a number's own token, else the channel's."""
        return find_tokens_in_environ(self._variables, self._environ, fallback)
