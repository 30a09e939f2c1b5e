"""How the console words a WhatsApp message's status and its timeline, and when a page stops
looking for news of it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from tambuli.messaging.models import Direction, MessageStatus
from tambuli.web.whatsapp_pages import (
    READ_WATCH,
    describe_whatsapp_status,
    is_whatsapp_in_flight,
    status_steps,
)
from tambuli.whatsapp.views import StoredWhatsApp

QUEUED_AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)

QUEUED = StoredWhatsApp(
    id=7,
    org_id=3,
    direction=Direction.EGRESS,
    contact_id=11,
    sender="15555550100",
    recipient="639171234567",
    body="",
    content={"name": "hello_world", "language": "en_US", "parameters": [], "body": "Hello"},
    location=None,
    media=(),
    price_micro=10_000,
    charged_micro=0,
    client_ref="",
    client_dedup="",
    client_push_url="",
    status=MessageStatus.QUEUED,
    state="",
    error="",
    delivery_error="",
    attempts=0,
    deadline_at=QUEUED_AT + timedelta(hours=1),
    handed_at=None,
    sent_at=None,
    delivered_at=None,
    read_at=None,
    failed_at=None,
    created_at=QUEUED_AT,
)
SENT = replace(
    QUEUED,
    status=MessageStatus.ACCEPTED,
    state="sent",
    attempts=1,
    handed_at=QUEUED_AT + SECOND,
    # The provider's clock may put "sent" a hair before our own record of the hand-off.
    sent_at=QUEUED_AT + SECOND - timedelta(microseconds=5),
    charged_micro=10_000,
)
DELIVERED = replace(SENT, state="delivered", delivered_at=QUEUED_AT + 3 * SECOND)
READ = replace(DELIVERED, state="read", read_at=QUEUED_AT + 4 * SECOND)


def test_each_state_has_its_word() -> None:
    assert describe_whatsapp_status(QUEUED) == "queued"
    assert describe_whatsapp_status(SENT) == "sent"
    assert describe_whatsapp_status(DELIVERED) == "delivered"
    assert describe_whatsapp_status(READ) == "read"
    refused = replace(QUEUED, status=MessageStatus.FAILED, error="recipient not on WhatsApp")
    assert describe_whatsapp_status(refused) == "failed"
    undelivered = replace(SENT, state="failed", delivery_error="message undeliverable")
    assert describe_whatsapp_status(undelivered) == "failed"
    inbound = replace(QUEUED, direction=Direction.INGRESS, status=MessageStatus.RECEIVED)
    assert describe_whatsapp_status(inbound) == "received"


def test_the_timeline_follows_the_order_of_events_with_the_failure_reason_last() -> None:
    steps = [(s.what, s.at) for s in status_steps(READ)]
    assert steps == [
        ("Queued", QUEUED_AT),
        ("Handed off", QUEUED_AT + SECOND),
        ("Sent", READ.sent_at),
        ("Delivered to the phone", QUEUED_AT + 3 * SECOND),
        ("Read", QUEUED_AT + 4 * SECOND),
    ]
    failed_at = QUEUED_AT + 5 * SECOND
    undelivered = replace(
        SENT, state="failed", delivery_error="message undeliverable", failed_at=failed_at
    )
    last = status_steps(undelivered)[-1]
    assert (last.what, last.detail, last.tone, last.at) == (
        "Failed",
        "message undeliverable",
        "failed",
        failed_at,
    )
    retrying = replace(QUEUED, attempts=2)
    assert [s.what for s in status_steps(retrying)] == ["Queued", "Waiting to retry"]


def test_a_delivered_message_is_watched_a_little_while_for_its_read_status() -> None:
    assert is_whatsapp_in_flight(QUEUED, QUEUED_AT + timedelta(days=2))
    assert is_whatsapp_in_flight(SENT, QUEUED_AT + 2 * SECOND)
    assert not is_whatsapp_in_flight(SENT, QUEUED_AT + timedelta(hours=2))
    assert DELIVERED.delivered_at is not None
    assert is_whatsapp_in_flight(DELIVERED, DELIVERED.delivered_at + READ_WATCH - SECOND)
    assert not is_whatsapp_in_flight(DELIVERED, DELIVERED.delivered_at + READ_WATCH)
    assert not is_whatsapp_in_flight(READ, QUEUED_AT + 5 * SECOND)
