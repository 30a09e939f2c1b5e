"""Handing queued WhatsApp messages to their number's channel: claim, build, submit, record.

The same machinery as SMS delivery (messaging/delivery.py): claims with a lease (db/claims.py),
the retry policy until the deadline (retries.py), the charge settled on acceptance or the
reservation released on failure (billing/reservations.py), pushes as for SMS.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tambuli.billing import reservations as funds
from tambuli.channels.base import HandOff, Outcome
from tambuli.channels.whatsapp.base import Media, OutboundWhatsApp, Template, WhatsAppChannel
from tambuli.clock import Clock
from tambuli.db.engine import Database
from tambuli.errors import FileNotFound
from tambuli.files import service as files
from tambuli.messaging.delivery import EXPIRED_ERROR, DeliveryRules
from tambuli.messaging.models import DeliveryError, MessageStatus
from tambuli.whatsapp import number_store, store
from tambuli.whatsapp.access_tokens import AccessTokens
from tambuli.whatsapp.number_store import BusinessNumber
from tambuli.whatsapp.statuses import apply_early_statuses_within, enqueue_whatsapp_pushes_within
from tambuli.whatsapp.store import ClaimedWhatsApp

log = logging.getLogger("tambuli.whatsapp")
NO_NUMBER_ERROR = "the business number is no longer registered"
MISSING_FILE_ERROR = "a file of the message was deleted"


def _no_channel_error(name: str) -> str:
    return f"no WhatsApp channel named {name} runs here"


@dataclass
class WhatsAppDispatcher:
    """Moves due WhatsApp messages to their channels; one per worker process."""

    db: Database
    clock: Clock
    # The channels by the name a business number names ("simulator", or a Cloud API channel's).
    channels: Mapping[str, WhatsAppChannel]
    rules: DeliveryRules = field(default_factory=DeliveryRules)
    random_unit: Callable[[], float] = random.random
    # Told each batch's numbers, so the Cloud API channels find their tokens by phone-number-id.
    tokens: AccessTokens | None = None

    async def dispatch_once(self) -> int:
        """Hand one batch of due messages to their channels; returns how many were claimed."""
        now = self.clock.now()
        lease_until = now + self.rules.lease
        async with self.db.write() as conn:
            claimed = await store.claim_due_messages(
                conn, now, lease_until, self.rules.batch_size, skip_locked=not self.db.is_sqlite
            )
        if not claimed:
            return 0
        expired = [m for m in claimed if m.deadline_at <= now]
        live = [m for m in claimed if m.deadline_at > now]
        answers = await self._hand_off(live)
        await self._record(lease_until, expired, answers)
        return len(claimed)

    async def _hand_off(
        self, live: list[ClaimedWhatsApp]
    ) -> list[tuple[ClaimedWhatsApp, str, HandOff]]:
        """Each message's channel name and answer."""
        async with self.db.read() as conn:
            media_of = await store.select_media_of(conn, [m.id for m in live])
            numbers = await number_store.select_numbers_by_digits(
                conn, sorted({m.sender for m in live})
            )
        if self.tokens is not None:
            self.tokens.remember(numbers.values())
        answers: list[tuple[ClaimedWhatsApp, str, HandOff]] = []
        batches: dict[str, list[tuple[ClaimedWhatsApp, OutboundWhatsApp]]] = {}
        for message in live:
            number = numbers.get(message.sender)
            refusal = None
            if number is None or number.org_id != message.org_id:
                refusal = HandOff(message.id, Outcome.PERMANENT, error=NO_NUMBER_ERROR)
            elif number.channel not in self.channels:
                error = _no_channel_error(number.channel)
                refusal = HandOff(message.id, Outcome.TRANSIENT, error=error)
            if refusal is not None:
                answers.append((message, "", refusal))
                continue
            assert number is not None
            try:
                outbound = await self._build(message, number, media_of.get(message.id, []))
            except FileNotFound:
                answers.append(
                    (message, "", HandOff(message.id, Outcome.PERMANENT, error=MISSING_FILE_ERROR))
                )
                continue
            batches.setdefault(number.channel, []).append((message, outbound))
        for name, batch in batches.items():
            channel = self.channels[name]
            try:
                handed = await channel.submit([outbound for _, outbound in batch])
            except Exception as exc:  # a channel fault must not lose the batch: retry it later
                log.exception("WhatsApp channel %s failed on a batch of %d", name, len(batch))
                error = f"channel error: {type(exc).__name__}"
                handed = [HandOff(m.id, Outcome.TRANSIENT, error=error) for m, _ in batch]
            if len(handed) != len(batch):
                log.error("WhatsApp channel %s answered %d of %d", name, len(handed), len(batch))
                handed = [HandOff(m.id, Outcome.TRANSIENT, error="channel error") for m, _ in batch]
            answers.extend((m, channel.name, a) for (m, _), a in zip(batch, handed, strict=True))
        return answers

    async def _build(
        self, message: ClaimedWhatsApp, number: BusinessNumber, media: list[Any]
    ) -> OutboundWhatsApp:
        template = None
        if message.content:
            content = json.loads(message.content)
            template = Template(content["name"], content["language"], tuple(content["parameters"]))
        attached = []
        for kind, filename in media:
            stored = await files.read_file(self.db, message.org_id, filename)
            attached.append(Media(kind, filename, stored.content_type, stored.sha1, stored.content))
        return OutboundWhatsApp(
            message_id=message.id,
            phone_number_id=number.phone_number_id,
            sender=number.number,
            recipient=message.recipient,
            text=message.body,
            template=template,
            media=tuple(attached),
            attempt=message.attempts + 1,
        )

    async def _record(
        self,
        lease_until: datetime,
        expired: list[ClaimedWhatsApp],
        answers: list[tuple[ClaimedWhatsApp, str, HandOff]],
    ) -> None:
        now = self.clock.now()
        changes: dict[int, dict[str, Any]] = {}
        settle: dict[int, tuple[int, int]] = {}
        release: dict[int, int] = {}
        events: list[tuple[int, str]] = []
        accepted: list[tuple[int, str, str]] = []
        for message in expired:
            changes[message.id] = _failed(message, "", message.error or EXPIRED_ERROR, now)
            changes[message.id]["delivery_error"] = DeliveryError.EXPIRED.value
        for message, channel, answer in answers:
            if answer.outcome == Outcome.ACCEPTED:
                changes[message.id] = {
                    "status": MessageStatus.ACCEPTED.value,
                    "channel": channel,
                    "operator_message_id": answer.operator_message_id,
                    "attempts": message.attempts + 1,
                    "handed_at": now,
                    "charged_micro": message.price_micro,
                    "error": "",
                    "next_attempt_at": None,
                    "lease_until": None,
                    "updated_at": now,
                }
                if message.reservation_id is not None:
                    settle[message.id] = (message.reservation_id, message.price_micro)
                events.append((message.id, "accepted"))
                accepted.append((message.id, channel, answer.operator_message_id))
                continue
            next_at = self.rules.retry.next_attempt(
                message.attempts + 1, now, self.random_unit(), give_up_at=message.deadline_at
            )
            if answer.outcome == Outcome.TRANSIENT and next_at is not None:
                changes[message.id] = {
                    "channel": channel,
                    "attempts": message.attempts + 1,
                    "handed_at": now,
                    "error": answer.error,
                    "next_attempt_at": next_at,
                    "lease_until": None,
                    "updated_at": now,
                }
                continue
            changes[message.id] = _failed(message, channel, answer.error, now, attempted=1)
            if answer.outcome == Outcome.TRANSIENT:
                changes[message.id]["delivery_error"] = DeliveryError.EXPIRED.value
        by_id = {m.id: m for m in expired} | {m.id: m for m, _, _ in answers}
        for row_id, values in changes.items():
            if values.get("status") == MessageStatus.FAILED.value:
                reservation_id = by_id[row_id].reservation_id
                if reservation_id is not None:
                    release[row_id] = reservation_id
                events.append((row_id, "failed"))
        async with self.db.write() as conn:
            mine = await store.select_still_claimed(conn, list(changes), lease_until)
            await store.update_messages(conn, [(i, v) for i, v in changes.items() if i in mine])
            await funds.settle_many_within(
                conn, self.clock, [charge for i, charge in settle.items() if i in mine]
            )
            await funds.release_many_within(
                conn, self.clock, [r for i, r in release.items() if i in mine]
            )
            await enqueue_whatsapp_pushes_within(
                conn,
                now,
                [(i, e) for i, e in events if i in mine and by_id[i].client_push_url],
            )
            # Statuses that overtook this record were kept: they apply with it.
            by_channel: dict[str, list[str]] = {}
            for row_id, channel, wamid in accepted:
                if row_id in mine and wamid:
                    by_channel.setdefault(channel, []).append(wamid)
            for channel, wamids in by_channel.items():
                await apply_early_statuses_within(conn, now, channel, wamids)


def _failed(
    message: ClaimedWhatsApp, channel: str, error: str, now: datetime, attempted: int = 0
) -> dict[str, Any]:
    return {
        "status": MessageStatus.FAILED.value,
        "channel": channel,
        "attempts": message.attempts + attempted,
        "error": error,
        "charged_micro": 0,
        "next_attempt_at": None,
        "lease_until": None,
        "updated_at": now,
    }
