"""Runtime settings, read once from TAMBULI_* environment variables and passed down."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_DATABASE_URL = "sqlite:///./tambuli.db"


@dataclass(frozen=True)
class Settings:
    """Every tunable of a Tambuli process; see docs/configuration.md."""

    database_url: str = DEFAULT_DATABASE_URL
    # The TOML file of channels and routes (docs/routing.md); "" runs the simulator alone.
    channel_config_file: str = ""
    # Request bodies above this size are refused with 413 before they are parsed.
    max_body_bytes: int = 1_048_576
    # Contact imports are files, so they get a larger cap of their own.
    max_upload_bytes: int = 20 * 1_048_576
    # How long a verified API token is trusted without asking the database again.
    token_cache_seconds: float = 2.0
    # Balance given to the demo organization made on the first start of an empty database.
    demo_balance_micro: int = 10_000_000
    # First retry of a transiently refused SMS after about this long, doubling up to the cap.
    retry_base_seconds: float = 10.0
    retry_max_seconds: float = 900.0
    # A worker that claimed messages and died gives them up after this long.
    claim_lease_seconds: float = 60.0
    # How many due rows a worker claims per commit.
    dispatch_batch_size: int = 500
    # How many due campaign runs (steps, poll timeouts) a worker fires per commit.
    campaign_batch_size: int = 500
    # How often an idle worker looks for due rows when nothing can tell it of new work: a
    # `tambuli worker` on SQLite, or on PostgreSQL while its LISTEN connection is down.
    worker_poll_seconds: float = 0.2
    # How often an idle worker looks when it is told of new work (the API in the same process
    # on SQLite, LISTEN/NOTIFY on PostgreSQL): only rows due later (retries, delays) wait.
    worker_idle_poll_seconds: float = 5.0
    # At most this many SMS per recipient number reach a channel in any rolling minute.
    recipient_per_minute: int = 5
    # Seconds between a hand-off to the simulator and its receipt.
    simulator_receipt_delay: float = 1.0
    # Throughput limit of the simulator channel in SMS parts per second (0: no limit).
    simulator_parts_per_second: float = 2000.0
    # Let webhooks reach loopback and private addresses (tests, closed networks).
    webhooks_allow_private: bool = False
    # A synchronous top-up request waits this long for its first attempt before answering 202.
    topup_sync_seconds: float = 30.0
    # How long one call to a top-up provider may take before it counts as unknown (looked up
    # again later); a claimed top-up is leased for this plus a margin.
    topup_attempt_seconds: float = 60.0
    # How many due top-ups a worker claims per commit, and how many calls it has in flight.
    topup_batch_size: int = 200
    # Which provider sends airtime: "simulator" or "reloadly".
    topup_provider: str = "simulator"
    # The simulator's slow numbers (ending 0007) take this long.
    simulator_topup_delay: float = 10.0
    # Reloadly (or a compatible aggregator): OAuth client credentials and the two base URLs.
    reloadly_client_id: str = ""
    reloadly_client_secret: str = ""
    reloadly_auth_url: str = "https://auth.reloadly.com"
    reloadly_api_url: str = "https://topups.reloadly.com"


def _read_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from exc


def _read_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc


def _read_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.strip().lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.strip().lower() in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{name} must be 1 or 0, got {raw!r}")


def _read_choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from the environment (or the given mapping)."""
    source = os.environ if env is None else env
    return Settings(
        database_url=source.get("TAMBULI_DATABASE_URL") or DEFAULT_DATABASE_URL,
        channel_config_file=(source.get("TAMBULI_CONFIG") or "").strip(),
        max_body_bytes=_read_int(source, "TAMBULI_MAX_BODY_BYTES", Settings.max_body_bytes),
        max_upload_bytes=_read_int(source, "TAMBULI_MAX_UPLOAD_BYTES", Settings.max_upload_bytes),
        token_cache_seconds=_read_float(
            source, "TAMBULI_TOKEN_CACHE_SECONDS", Settings.token_cache_seconds
        ),
        demo_balance_micro=_read_int(
            source, "TAMBULI_DEMO_BALANCE_MICRO", Settings.demo_balance_micro
        ),
        retry_base_seconds=_read_float(
            source, "TAMBULI_RETRY_BASE_SECONDS", Settings.retry_base_seconds
        ),
        retry_max_seconds=_read_float(
            source, "TAMBULI_RETRY_MAX_SECONDS", Settings.retry_max_seconds
        ),
        claim_lease_seconds=_read_float(
            source, "TAMBULI_CLAIM_LEASE_SECONDS", Settings.claim_lease_seconds
        ),
        dispatch_batch_size=_read_int(
            source, "TAMBULI_DISPATCH_BATCH_SIZE", Settings.dispatch_batch_size
        ),
        campaign_batch_size=_read_int(
            source, "TAMBULI_CAMPAIGN_BATCH_SIZE", Settings.campaign_batch_size
        ),
        worker_poll_seconds=_read_float(
            source, "TAMBULI_WORKER_POLL_SECONDS", Settings.worker_poll_seconds
        ),
        worker_idle_poll_seconds=_read_float(
            source, "TAMBULI_WORKER_IDLE_POLL_SECONDS", Settings.worker_idle_poll_seconds
        ),
        recipient_per_minute=_read_int(
            source, "TAMBULI_RECIPIENT_PER_MINUTE", Settings.recipient_per_minute
        ),
        simulator_receipt_delay=_read_float(
            source, "TAMBULI_SIMULATOR_RECEIPT_DELAY", Settings.simulator_receipt_delay
        ),
        simulator_parts_per_second=_read_float(
            source, "TAMBULI_SIMULATOR_PARTS_PER_SECOND", Settings.simulator_parts_per_second
        ),
        webhooks_allow_private=_read_bool(
            source, "TAMBULI_WEBHOOKS_ALLOW_PRIVATE", Settings.webhooks_allow_private
        ),
        topup_sync_seconds=_read_float(
            source, "TAMBULI_TOPUP_SYNC_SECONDS", Settings.topup_sync_seconds
        ),
        topup_attempt_seconds=_read_float(
            source, "TAMBULI_TOPUP_ATTEMPT_SECONDS", Settings.topup_attempt_seconds
        ),
        topup_batch_size=_read_int(source, "TAMBULI_TOPUP_BATCH_SIZE", Settings.topup_batch_size),
        topup_provider=_read_choice(
            source, "TAMBULI_TOPUP_PROVIDER", Settings.topup_provider, ("simulator", "reloadly")
        ),
        simulator_topup_delay=_read_float(
            source, "TAMBULI_SIMULATOR_TOPUP_DELAY", Settings.simulator_topup_delay
        ),
        reloadly_client_id=source.get("TAMBULI_RELOADLY_CLIENT_ID", ""),
        reloadly_client_secret=source.get("TAMBULI_RELOADLY_CLIENT_SECRET", ""),
        reloadly_auth_url=source.get("TAMBULI_RELOADLY_AUTH_URL") or Settings.reloadly_auth_url,
        reloadly_api_url=source.get("TAMBULI_RELOADLY_API_URL") or Settings.reloadly_api_url,
    )
