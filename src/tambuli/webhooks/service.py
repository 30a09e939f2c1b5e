"""Queue and deliver pushes: signed POSTs to clients' URLs, retried until they get a 2xx.

A push is queued in the same transaction as the change it reports, so it survives restarts;
workers deliver it later, never inside a transaction.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from tambuli.clock import Clock
from tambuli.db.engine import Database
from tambuli.metrics import WEBHOOK_PUSHES
from tambuli.organizations import profile as profiles
from tambuli.outbound_http import CallFailed, OutboundHttp
from tambuli.retries import RetryPolicy
from tambuli.settings import Settings
from tambuli.webhooks import store
from tambuli.webhooks.address_guard import (
    Resolver,
    UnknownHost,
    UnresolvedHost,
    UnsafeAddress,
    resolve_system,
    resolve_webhook_destination,
)
from tambuli.webhooks.models import (
    PUSH_GIVE_UP_AFTER,
    PUSH_RETRIES,
    DeliveryStatus,
    NewPush,
    PushRecord,
    PushResult,
)
from tambuli.webhooks.signing import generate_webhook_secret, sign_webhook

log = logging.getLogger("tambuli.webhooks")
PUSH_TIMEOUT_SECONDS = 10.0
MAX_ERROR_TEXT = 500


async def enqueue_pushes_within(
    conn: AsyncConnection, now: datetime, pushes: Sequence[NewPush]
) -> None:
    """Queue pushes inside the caller's transaction, due at once."""
    await store.insert_pushes(conn, now, now + PUSH_GIVE_UP_AFTER, pushes)


async def list_pushes_about(
    db: Database, org_id: int, subject_id: str, limit: int = 20
) -> list[PushRecord]:
    """The pushes reporting one message or top-up of the organization, oldest first."""
    async with db.read() as conn:
        return await store.select_pushes_about(conn, org_id, subject_id, limit)


async def read_webhook_secret(db: Database, org_id: int) -> str:
    """The organization's signing secret, created the first time it is needed."""
    profile = await profiles.get_profile(db, org_id)
    if profile.webhook_secret:
        return profile.webhook_secret
    async with db.write() as conn:
        # Another process may have created it meanwhile: read again under the write lock.
        current = await profiles.read_profile_within(conn, org_id)
        assert current is not None
        if current.webhook_secret:
            return current.webhook_secret
        secret = generate_webhook_secret()
        await profiles.write_profile_within(conn, replace(current, webhook_secret=secret))
        return secret


async def rotate_webhook_secret(db: Database, org_id: int) -> str:
    """Replace the organization's signing secret; returns the new one."""
    secret = generate_webhook_secret()
    await profiles.update_profile(db, org_id, webhook_secret=secret)
    return secret


@dataclass
class PushDelivery:
    """What delivering pushes needs besides the database: HTTP, address policy, retries."""

    client: OutboundHttp
    allow_private: bool = False
    resolve: Resolver = resolve_system
    policy: RetryPolicy = PUSH_RETRIES
    batch_size: int = 50
    # Seconds a receiver has to answer.
    timeout: float = PUSH_TIMEOUT_SECONDS
    # A claimed push that is not recorded by then (its worker died) is tried again.
    lease: timedelta = timedelta(seconds=60)


def build_push_delivery(client: OutboundHttp, settings: Settings) -> PushDelivery:
    """How this process delivers pushes, from its settings."""
    return PushDelivery(
        client,
        allow_private=settings.webhooks_allow_private,
        lease=timedelta(seconds=settings.claim_lease_seconds),
    )


async def _attempt(
    delivery: PushDelivery, push: store.Push, secret: str, now: datetime
) -> tuple[str, bool]:
    """One POST; returns what went wrong ("" on a 2xx) and whether that is final."""
    try:
        addresses = await resolve_webhook_destination(
            push.url, allow_private=delivery.allow_private, resolve=delivery.resolve
        )
    except ValueError as exc:
        return f"refused URL: {exc}", True
    except UnsafeAddress as exc:
        return f"refused address: {exc}", True
    except UnknownHost as exc:
        return f"refused host: {exc}", True
    except UnresolvedHost as exc:
        return str(exc), False
    body = push.payload.encode("utf-8")
    headers = sign_webhook(secret, f"push_{push.id}", now, body)
    headers["content-type"] = "application/json"
    headers["user-agent"] = "Tambuli-Webhooks"
    try:
        # Connect to the address that was checked, not to whatever a second lookup answers
        # (DNS rebinding); the Host header and TLS server name still carry the name.
        response = await delivery.client.call(
            "POST",
            push.url,
            content=body,
            headers=headers,
            time_limit=delivery.timeout,
            connect_to=addresses[0].split("%")[0],
        )
    except CallFailed as exc:
        return str(exc)[:MAX_ERROR_TEXT], False
    if 200 <= response.status < 300:
        return "", False
    return f"HTTP {response.status}", False


async def deliver_due_pushes(db: Database, clock: Clock, delivery: PushDelivery) -> int:
    """Deliver one batch of due pushes; returns how many were attempted."""
    now = clock.now()
    lease_until = now + delivery.lease
    async with db.write() as conn:
        pushes = await store.claim_due_pushes(
            conn, now, lease_until, delivery.batch_size, skip_locked=not db.is_sqlite
        )
    if not pushes:
        return 0
    secrets: dict[int, str] = {}
    for org_id in {p.org_id for p in pushes}:
        secrets[org_id] = await read_webhook_secret(db, org_id)
    outcomes = await asyncio.gather(
        *(_attempt(delivery, p, secrets[p.org_id], now) for p in pushes)
    )
    done_at = clock.now()
    results: list[PushResult] = []
    for push, (error, final) in zip(pushes, outcomes, strict=True):
        attempts = push.attempts + 1
        if not error:
            status, next_at = DeliveryStatus.DELIVERED, None
        elif final:
            status, next_at = DeliveryStatus.FAILED, None
        else:
            next_at = delivery.policy.next_attempt(
                attempts, done_at, random.random(), give_up_at=push.give_up_at
            )
            status = DeliveryStatus.PENDING if next_at is not None else DeliveryStatus.FAILED
        if error:
            log.info(
                "push %s to %s failed (attempt %s): %s",
                push.id,
                push.url,
                attempts,
                error,
                extra={"org_id": push.org_id, "push_id": push.id},
            )
        delivered_at = done_at if status == DeliveryStatus.DELIVERED else None
        results.append(
            PushResult(push.id, lease_until, status, attempts, next_at, error, delivered_at)
        )
    async with db.write() as conn:
        await store.record_push_results(conn, results)
    for result in results:
        outcome = "retry" if result.status == DeliveryStatus.PENDING else result.status.value
        WEBHOOK_PUSHES.labels(outcome).inc()
    return len(pushes)


async def list_pushes(db: Database, org_id: int, limit: int = 50) -> list[dict[str, Any]]:
    """The organization's newest pushes with their status, for operators and tests."""
    async with db.read() as conn:
        return await store.select_pushes(conn, org_id, limit)


async def count_push_backlog(db: Database, now: datetime) -> dict[str, int]:
    """Pushes not yet delivered nor given up, by state ("due", "later", "claimed")."""
    async with db.read() as conn:
        return await store.count_pending_pushes(conn, now)
