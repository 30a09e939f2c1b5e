"""A `kind = "whatsapp_cloud"` table of the channel config file: one Meta app's Cloud API.

    [[channels]]
    name = "whatsapp"
    kind = "whatsapp_cloud"
    app_secret_env = "TAMBULI_WHATSAPP_APP_SECRET"      # signs the webhooks Meta sends
    verify_token_env = "TAMBULI_WHATSAPP_VERIFY_TOKEN"  # the subscription handshake
    access_token_env = "TAMBULI_WHATSAPP_TOKEN"         # optional: numbers without their own
    # graph_url = "https://graph.facebook.com"  api_version = "v23.0"
    # messages_per_second = 80  max_concurrent = 32  timeout_seconds = 20

Secrets are given as `<key>_env` (a variable), `<key>_file` (a file, relative to the config
file) or, discouraged, `<key>` itself, as for the other channels. Every mistake is an
InvalidChannelConfig naming the file, the table and the field.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, NoReturn
from urllib.parse import urlsplit

from tambuli.channels.secrets import Secret
from tambuli.errors import InvalidChannelConfig

GRAPH_URL = "https://graph.facebook.com"
API_VERSION = "v23.0"
# Meta's default throughput for a business number.
MESSAGES_PER_SECOND = 80.0
MAX_CONCURRENT = 32
TIMEOUT_SECONDS = 20.0
_SECRETS = ("app_secret", "verify_token", "access_token")
_PLAIN = (
    "name",
    "kind",
    "graph_url",
    "api_version",
    "messages_per_second",
    "max_concurrent",
    "timeout_seconds",
)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_VERSION = re.compile(r"v[0-9]{1,3}\.[0-9]{1,3}")


@dataclass(frozen=True, kw_only=True)
class WhatsAppCloudConfig:
    """One Meta app on the WhatsApp Business Cloud API, and how hard to drive it."""

    kind: ClassVar[str] = "whatsapp_cloud"
    name: str
    # The HMAC key of X-Hub-Signature-256 (Meta app dashboard → App settings → Basic).
    app_secret: Secret
    # What Meta must present in the subscription handshake (chosen when registering the URL).
    verify_token: Secret
    # The token of numbers registered without one of their own; None: every number has one.
    access_token: Secret | None = None
    graph_url: str = GRAPH_URL
    api_version: str = API_VERSION
    # Cloud API messages per second to each business number (0: no pacing).
    messages_per_second: float = MESSAGES_PER_SECOND
    # Requests in flight at once, over every number of the channel.
    max_concurrent: int = MAX_CONCURRENT
    timeout_seconds: float = TIMEOUT_SECONDS

    @property
    def api_url(self) -> str:
        """The Graph API root every call is made under, e.g. https://graph.facebook.com/v23.0."""
        return f"{self.graph_url.rstrip('/')}/{self.api_version}"


def read_whatsapp_cloud_config(
    raw: Mapping[str, Any], environ: Mapping[str, str], *, where: str, source: Path
) -> WhatsAppCloudConfig:
    """The channel a `kind = "whatsapp_cloud"` table describes; InvalidChannelConfig if wrong."""
    table = _Fields(raw, where, source)
    allowed = set(_PLAIN)
    for secret in _SECRETS:
        allowed |= {secret, f"{secret}_env", f"{secret}_file"}
    for key in raw:
        if key not in allowed:
            hint = difflib.get_close_matches(key, sorted(allowed), n=1)
            table.fail(key, f'unknown key (did you mean "{hint[0]}"?)' if hint else "unknown key")
    name = table.text("name", None)
    if not _NAME.fullmatch(name):
        table.fail("name", "must be 1 to 64 letters, digits, '.', '_' or '-', starting with one")
    graph_url = table.text("graph_url", GRAPH_URL)
    parts = urlsplit(graph_url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        table.fail(
            "graph_url", f'must be an http:// or https:// URL with a host, got "{graph_url}"'
        )
    api_version = table.text("api_version", API_VERSION)
    if not _VERSION.fullmatch(api_version):
        table.fail("api_version", f'must look like "v23.0", got "{api_version}"')
    return WhatsAppCloudConfig(
        name=name,
        app_secret=table.secret("app_secret", environ),
        verify_token=table.secret("verify_token", environ),
        access_token=table.optional_secret("access_token", environ),
        graph_url=graph_url.rstrip("/"),
        api_version=api_version,
        messages_per_second=table.number("messages_per_second", MESSAGES_PER_SECOND, 10_000.0),
        max_concurrent=int(table.number("max_concurrent", MAX_CONCURRENT, 1000.0, whole=True)),
        timeout_seconds=table.number("timeout_seconds", TIMEOUT_SECONDS, 300.0),
    )


class _Fields:
    """The keys of one table, each read with an error that names the file, table and field."""

    def __init__(self, raw: Mapping[str, Any], where: str, source: Path) -> None:
        self.raw = raw
        self.where = where
        self.source = source

    def fail(self, key: str, problem: str) -> NoReturn:
        """Raise InvalidChannelConfig about one field of this table."""
        raise InvalidChannelConfig(
            f'{self.source}: {self.where}, field "{key}": {problem}',
            {"file": str(self.source), "table": self.where, "field": key},
        )

    def text(self, key: str, default: str | None) -> str:
        """A non-empty string; required without a default."""
        value = self.raw.get(key, default)
        if value is None:
            self.fail(key, "is required")
        if not isinstance(value, str) or not value:
            self.fail(key, "must be a non-empty string")
        return value

    def number(self, key: str, default: float, at_most: float, *, whole: bool = False) -> float:
        """A number from 0 (a whole number from 1) up to at_most."""
        value = self.raw.get(key, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value < (1 if whole else 0)
            or value > at_most
            or (whole and not isinstance(value, int))
        ):
            kind = "a whole number from 1" if whole else "a number from 0"
            self.fail(key, f"must be {kind} to {at_most:g}")
        return float(value)

    def optional_secret(self, key: str, environ: Mapping[str, str]) -> Secret | None:
        """A secret as in `secret`, or None when none of its keys is given."""
        if not any(name in self.raw for name in (key, f"{key}_env", f"{key}_file")):
            return None
        return self.secret(key, environ)

    def secret(self, key: str, environ: Mapping[str, str]) -> Secret:
        """A secret given as key_env (a variable), key_file (a file) or, discouraged, key."""
        given = [name for name in (key, f"{key}_env", f"{key}_file") if name in self.raw]
        if len(given) > 1:
            self.fail(given[1], f'give only one of "{key}_env", "{key}_file" and "{key}"')
        if not given:
            self.fail(key, f'is required: set "{key}_env", "{key}_file" or "{key}"')
        [chosen] = given
        reference = self.raw[chosen]
        if not isinstance(reference, str) or not reference:
            # The value itself is never shown: it may be the secret.
            self.fail(chosen, "must be a non-empty string")
        if chosen == key:
            return Secret(reference)
        if chosen.endswith("_env"):
            value = environ.get(reference, "")
            if not value:
                self.fail(chosen, f"environment variable {reference} is not set or empty")
            return Secret(value)
        path = self.source.parent / reference
        try:
            value = path.read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            self.fail(chosen, f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}")
        if not value:
            self.fail(chosen, f"{path} is empty")
        return Secret(value)
