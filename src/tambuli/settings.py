"""Runtime settings, read once from TAMBULI_* environment variables and passed down.

Each setting is declared once, with its variable, default and allowed range; `load_settings`
reads every declared variable, and a Settings outside its ranges cannot be built (the message
names the variable and the range), so a process refuses to start rather than run half broken.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

DEFAULT_DATABASE_URL = "sqlite:///./tambuli.db"
DEFAULT_SENDER_ID = "Tambuli"
SENDER_OFF = "none"
T = TypeVar("T")
_ENV = "env"
_LOW = "low"
_LOW_OPEN = "low_open"
_HIGH = "high"
_CHOICES = "choices"
_SECONDS_IN_A_DAY = 86_400


def setting(
    default: T,
    env: str,
    *,
    at_least: float | None = None,
    above: float | None = None,
    at_most: float | None = None,
    choices: tuple[str, ...] = (),
) -> T:
    """Declare a field read from `env`; numbers must be finite and within the bounds given."""
    low = above if above is not None else at_least
    metadata = {_ENV: env, _LOW: low, _LOW_OPEN: above is not None, _HIGH: at_most}
    return field(default=default, metadata={**metadata, _CHOICES: choices})


@dataclass(frozen=True)
class Settings:
    """Every tunable of a Tambuli process; see docs/configuration.md."""

    database_url: str = setting(DEFAULT_DATABASE_URL, "TAMBULI_DATABASE_URL")
    # PostgreSQL connections a process keeps open, and how many more it may open at a peak.
    db_pool_size: int = setting(10, "TAMBULI_DB_POOL_SIZE", at_least=1, at_most=1000)
    db_pool_overflow: int = setting(20, "TAMBULI_DB_POOL_OVERFLOW", at_least=0, at_most=1000)
    # A request that finds every connection in use waits this long for one, then is answered
    # 503 server.busy.
    db_pool_wait_seconds: float = setting(5.0, "TAMBULI_DB_POOL_WAIT_SECONDS", above=0, at_most=60)
    # The TOML file of channels and routes (docs/routing.md); "" runs the simulator alone.
    channel_config_file: str = setting("", "TAMBULI_CONFIG")
    # Request bodies above this size are refused with 413 before they are parsed.
    max_body_bytes: int = setting(
        1_048_576, "TAMBULI_MAX_BODY_BYTES", at_least=1, at_most=1_073_741_824
    )
    # Contact imports are files, so they get a larger cap of their own.
    max_upload_bytes: int = setting(
        20 * 1_048_576, "TAMBULI_MAX_UPLOAD_BYTES", at_least=1, at_most=4_294_967_296
    )
    # Each file of a Files upload (the whole request is capped by max_upload_bytes).
    max_file_bytes: int = setting(
        16 * 1_048_576, "TAMBULI_MAX_FILE_BYTES", at_least=1, at_most=1_073_741_824
    )
    # How long a verified API token is trusted without asking the database again (0: never).
    token_cache_seconds: float = setting(
        2.0, "TAMBULI_TOKEN_CACHE_SECONDS", at_least=0, at_most=3600
    )
    # Balance given to the demo organization made on the first start of an empty database.
    demo_balance_micro: int = setting(
        10_000_000, "TAMBULI_DEMO_BALANCE_MICRO", at_least=0, at_most=1_000_000_000_000
    )
    # First retry of a transiently refused SMS after about this long, doubling up to the cap.
    retry_base_seconds: float = setting(
        10.0, "TAMBULI_RETRY_BASE_SECONDS", above=0, at_most=_SECONDS_IN_A_DAY
    )
    retry_max_seconds: float = setting(
        900.0, "TAMBULI_RETRY_MAX_SECONDS", above=0, at_most=7 * _SECONDS_IN_A_DAY
    )
    # A worker that claimed messages and died gives them up after this long.
    claim_lease_seconds: float = setting(
        60.0, "TAMBULI_CLAIM_LEASE_SECONDS", at_least=1, at_most=_SECONDS_IN_A_DAY
    )
    # How many due rows a worker claims per commit.
    dispatch_batch_size: int = setting(
        500, "TAMBULI_DISPATCH_BATCH_SIZE", at_least=1, at_most=10_000
    )
    # How many due campaign runs (steps, poll timeouts) a worker fires per commit.
    campaign_batch_size: int = setting(
        500, "TAMBULI_CAMPAIGN_BATCH_SIZE", at_least=1, at_most=10_000
    )
    # How often an idle worker looks for due rows when nothing can tell it of new work: a
    # `tambuli worker` on SQLite, or on PostgreSQL while its LISTEN connection is down.
    worker_poll_seconds: float = setting(
        0.2, "TAMBULI_WORKER_POLL_SECONDS", at_least=0.01, at_most=_SECONDS_IN_A_DAY
    )
    # How often an idle worker looks when it is told of new work (the API in the same process
    # on SQLite, LISTEN/NOTIFY on PostgreSQL): only rows due later (retries, delays) wait.
    worker_idle_poll_seconds: float = setting(
        5.0, "TAMBULI_WORKER_IDLE_POLL_SECONDS", at_least=0.01, at_most=_SECONDS_IN_A_DAY
    )
    # At most this many SMS per recipient number reach a channel in any rolling minute (0: any).
    recipient_per_minute: int = setting(
        5, "TAMBULI_RECIPIENT_PER_MINUTE", at_least=0, at_most=10_000
    )
    # Seconds between a hand-off to the simulator and its receipt.
    simulator_receipt_delay: float = setting(
        1.0, "TAMBULI_SIMULATOR_RECEIPT_DELAY", at_least=0, at_most=_SECONDS_IN_A_DAY
    )
    # Throughput limit of the simulator channel in SMS parts per second (0: no limit).
    simulator_parts_per_second: float = setting(
        2000.0, "TAMBULI_SIMULATOR_PARTS_PER_SECOND", at_least=0, at_most=1_000_000
    )
    # Let webhooks reach loopback and private addresses (tests, closed networks).
    webhooks_allow_private: bool = setting(False, "TAMBULI_WEBHOOKS_ALLOW_PRIVATE")
    # A synchronous top-up request waits this long for its first attempt before answering 202.
    topup_sync_seconds: float = setting(30.0, "TAMBULI_TOPUP_SYNC_SECONDS", at_least=0, at_most=300)
    # How long one call to a top-up provider may take before it counts as unknown (looked up
    # again later); a claimed top-up is leased for this plus a margin.
    topup_attempt_seconds: float = setting(
        60.0, "TAMBULI_TOPUP_ATTEMPT_SECONDS", above=0, at_most=3600
    )
    # How many due top-ups a worker claims per commit, and how many calls it has in flight.
    topup_batch_size: int = setting(200, "TAMBULI_TOPUP_BATCH_SIZE", at_least=1, at_most=10_000)
    # The web console: the key that signs its session cookies ("" makes one on first start
    # and keeps it in the database), the address people reach it at (sign-in links start
    # with it), whether its cookies are sent over HTTPS only, and the balance under which the
    # dashboard warns that money is running low.
    secret_key: str = setting("", "TAMBULI_SECRET_KEY")
    public_url: str = setting("", "TAMBULI_PUBLIC_URL")
    secure_cookies: bool = setting(False, "TAMBULI_SECURE_COOKIES")
    low_balance_micro: int = setting(
        1_000_000, "TAMBULI_LOW_BALANCE_MICRO", at_least=0, at_most=1_000_000_000_000
    )
    # Which provider sends airtime.
    topup_provider: str = setting(
        "simulator", "TAMBULI_TOPUP_PROVIDER", choices=("simulator", "reloadly")
    )
    # The simulator's slow numbers (ending 0007) take this long.
    simulator_topup_delay: float = setting(
        10.0, "TAMBULI_SIMULATOR_TOPUP_DELAY", at_least=0, at_most=3600
    )
    # Reloadly (or a compatible aggregator): OAuth client credentials and the two base URLs.
    reloadly_client_id: str = setting("", "TAMBULI_RELOADLY_CLIENT_ID")
    reloadly_client_secret: str = setting("", "TAMBULI_RELOADLY_CLIENT_SECRET")
    reloadly_auth_url: str = setting("https://auth.reloadly.com", "TAMBULI_RELOADLY_AUTH_URL")
    reloadly_api_url: str = setting("https://topups.reloadly.com", "TAMBULI_RELOADLY_API_URL")
    # How log lines look: "text", or "json" (one JSON object per line).
    log_format: str = setting("text", "TAMBULI_LOG_FORMAT", choices=("text", "json"))
    # The least severe of Tambuli's own log records that are written; libraries stay at info.
    log_level: str = setting(
        "info", "TAMBULI_LOG_LEVEL", choices=("debug", "info", "warning", "error")
    )
    # The sender ID of a message whose request and organization name none (engageSPARK's
    # clients send "from": null); `none` turns it off, and such messages are refused.
    default_sender_id: str = setting(DEFAULT_SENDER_ID, "TAMBULI_DEFAULT_SENDER_ID")

    def __post_init__(self) -> None:
        for spec in fields(self):
            _check_value(spec.metadata, getattr(self, spec.name))
        if self.retry_max_seconds < self.retry_base_seconds:
            raise ValueError(
                "TAMBULI_RETRY_MAX_SECONDS must be at least TAMBULI_RETRY_BASE_SECONDS"
                f" ({self.retry_base_seconds:g}), got {self.retry_max_seconds:g}"
            )

    @property
    def server_sender_id(self) -> str:
        """The server-wide default sender ID; "" when TAMBULI_DEFAULT_SENDER_ID is `none`."""
        given = self.default_sender_id.strip()
        return "" if given.lower() == SENDER_OFF else given


def describe_range(metadata: Mapping[str, Any]) -> str:
    """The allowed values of a numeric setting in words ("from 1 to 10000")."""
    low, high = _show(metadata[_LOW]), _show(metadata[_HIGH])
    if metadata[_LOW_OPEN]:
        return f"greater than {low} and at most {high}"
    return f"from {low} to {high}"


def _show(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else str(bound)


def _check_value(metadata: Mapping[str, Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        choices = metadata[_CHOICES]
        if choices and value not in choices:
            raise ValueError(f"{metadata[_ENV]} must be one of {', '.join(choices)}, got {value!r}")
        return
    low, high = metadata[_LOW], metadata[_HIGH]
    too_low = low is not None and (value <= low if metadata[_LOW_OPEN] else value < low)
    too_high = high is not None and value > high
    if not math.isfinite(value) or too_low or too_high:
        kind = "a whole number" if isinstance(value, int) else "a number"
        raise ValueError(
            f"{metadata[_ENV]} must be {kind} {describe_range(metadata)}, got {value!r}"
        )


def _parse(metadata: Mapping[str, Any], kind: type, raw: str) -> object:
    name = metadata[_ENV]
    if kind is bool:
        if raw.strip().lower() in {"1", "true", "yes", "on"}:
            return True
        if raw.strip().lower() in {"0", "false", "no", "off"}:
            return False
        raise ValueError(f"{name} must be 1 or 0, got {raw!r}")
    if kind is int:
        try:
            return int(raw)
        except ValueError as exc:
            raise ValueError(
                f"{name} must be a whole number {describe_range(metadata)}, got {raw!r}"
            ) from exc
    if kind is float:
        try:
            return float(raw)
        except ValueError as exc:
            raise ValueError(
                f"{name} must be a number {describe_range(metadata)}, got {raw!r}"
            ) from exc
    if metadata[_CHOICES]:
        return raw.strip().lower()
    return raw.strip()


_KINDS: dict[str, type] = {"int": int, "float": float, "bool": bool, "str": str}


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Settings from the environment (or the given mapping); ValueError says what is wrong."""
    source = os.environ if env is None else env
    values: dict[str, object] = {}
    for spec in fields(Settings):
        raw = source.get(spec.metadata[_ENV], "")
        # An empty variable means "not set": the default applies.
        if raw.strip():
            values[spec.name] = _parse(spec.metadata, _KINDS[str(spec.type)], raw)
    return Settings(**values)  # type: ignore[arg-type]
