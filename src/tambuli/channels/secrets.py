"""Secret: a password or token from the channel config file, never shown by repr() or str().

Its own module so that every channel's config reader (channels/config/ and the WhatsApp
Cloud API's table, which channels/config/ reads) can name it without importing one another.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, repr=False)
class Secret:
    """A password or token: compared by value, never shown by repr() or str()."""

    _value: str

    def reveal(self) -> str:
        """The secret itself, for the one place that sends it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return self.__repr__()
