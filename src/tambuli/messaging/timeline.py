"""What happened to one message, in order: queued, handed off, the operator's answer, the
receipt, and the replies its recipient sent afterwards (for the console's message page)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tambuli.db.engine import Database
from tambuli.messaging import listing, timeline_store
from tambuli.messaging.models import Direction, MessageStatus
from tambuli.messaging.views import StoredMessage
from tambuli.webhooks import service as webhooks
from tambuli.webhooks.models import PushRecord

# Replies are looked for in the week after the message, at most this many.
REPLY_WINDOW = timedelta(days=7)
MAX_REPLIES = 20


@dataclass(frozen=True)
class TimelineEvent:
    """One step of a message's delivery; `at` is None when the row does not record its time."""

    at: datetime | None
    what: str
    detail: str = ""
    # "ok", "failed" or "" (neutral): how the console colours the step.
    tone: str = ""


@dataclass(frozen=True)
class MessageTimeline:
    """A message, its delivery steps and the replies to it."""

    message: StoredMessage
    channel: str
    operator_ref: str
    events: list[TimelineEvent]
    replies: list[StoredMessage]
    pushes: list[PushRecord]


def is_message_final(message: StoredMessage, now: datetime) -> bool:
    """Whether nothing more is expected for the message (so a page need not refresh it)."""
    if message.direction is Direction.INGRESS or message.status is MessageStatus.FAILED:
        return True
    if message.status is MessageStatus.QUEUED:
        return False
    waiting_for_receipt = message.receipt == "unknown"
    return not waiting_for_receipt or (message.deadline_at or message.created_at) <= now


def _events(
    message: StoredMessage, channel: str, operator_ref: str, changed_at: datetime | None
) -> list[TimelineEvent]:
    if message.direction is Direction.INGRESS:
        return [TimelineEvent(message.created_at, "Received", f"on {channel or 'a channel'}")]
    events = [
        TimelineEvent(
            message.created_at,
            "Queued",
            f"{message.parts} part(s), {'UCS-2' if message.encoding == 'ucs2' else 'GSM-7'}",
        )
    ]
    if message.handed_at is not None:
        detail = f"on channel {channel or '?'}"
        if operator_ref:
            detail += f", operator reference {operator_ref}"
        events.append(TimelineEvent(message.handed_at, "Handed off", detail))
    if message.status is MessageStatus.ACCEPTED:
        events.append(
            TimelineEvent(
                message.handed_at, "Operator accepted it", f"attempt {message.attempts}", "ok"
            )
        )
    elif message.status is MessageStatus.FAILED:
        reason = message.error or message.delivery_error or "no reason given"
        events.append(TimelineEvent(changed_at, "Failed", reason, "failed"))
    elif message.attempts:
        events.append(
            TimelineEvent(None, "Waiting to retry", f"{message.attempts} attempt(s) so far")
        )
    if message.receipt == "confirmed":
        events.append(
            TimelineEvent(
                message.success_at or changed_at,
                "Delivered to the phone",
                f"{message.success_parts} of {message.parts} part(s) confirmed",
                "ok",
            )
        )
    elif message.receipt == "failed":
        reason = message.delivery_error or "the operator reported a failure"
        events.append(TimelineEvent(changed_at, "Not delivered", reason, "failed"))
    return events


async def read_message_timeline(db: Database, org_id: int, message_id: str) -> MessageTimeline:
    """One message of the organization with its delivery steps and replies (MessageNotFound)."""
    message = await listing.get_message(db, org_id, message_id)
    async with db.read() as conn:
        channel, operator_ref, changed_at = await timeline_store.select_hand_off(
            conn, org_id, message.id
        )
        replies: list[StoredMessage] = []
        if message.direction is Direction.EGRESS:
            replies = await timeline_store.select_replies(
                conn,
                org_id,
                message.recipient,
                message.created_at,
                message.created_at + REPLY_WINDOW,
                MAX_REPLIES,
            )
    events = _events(message, channel, operator_ref, changed_at)
    pushes = await webhooks.list_pushes_about(db, org_id, message.message_id)
    return MessageTimeline(message, channel, operator_ref, events, replies, pushes)
