"""Standard Webhooks signatures: interoperability with the reference package, and refusals."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tambuli.webhooks.signing import (
    WEBHOOK_SECRET_PREFIX,
    generate_webhook_secret,
    sign_webhook,
    verify_webhook,
)

# The key is bytes 0..31, so the test does not depend on generate_webhook_secret.
SECRET = WEBHOOK_SECRET_PREFIX + base64.b64encode(bytes(range(32))).decode()
MESSAGE_ID = "msg_2Lf0jBbqVoJ0GdWDBNL0DlBrVbX"
SENT = datetime(2026, 3, 14, 9, 26, 53, tzinfo=UTC)
BODY = b'{"messageId": 1234, "status": "delivered", "to": "639171234567"}'
# Computed once with standardwebhooks 1.x for the values above; pinned so neither side can drift.
KNOWN_SIGNATURE = "v1,Y7clVs6bgm3qxvdtXaemdPewvDODXdxE+cpdt7lrIDA="


def test_our_signature_verifies_with_the_standardwebhooks_package() -> None:
    now = datetime.now(UTC)
    headers = sign_webhook(SECRET, MESSAGE_ID, now, BODY)
    assert Webhook(SECRET).verify(BODY, headers) == json.loads(BODY)


def test_the_signature_matches_a_known_answer_from_the_standardwebhooks_package() -> None:
    assert Webhook(SECRET).sign(MESSAGE_ID, SENT, BODY.decode()) == KNOWN_SIGNATURE
    assert sign_webhook(SECRET, MESSAGE_ID, SENT, BODY) == {
        "webhook-id": MESSAGE_ID,
        "webhook-timestamp": "1773480413",
        "webhook-signature": KNOWN_SIGNATURE,
    }


def test_a_timestamp_in_another_time_zone_signs_the_same_instant() -> None:
    manila = SENT.astimezone(timezone(timedelta(hours=8)))
    assert sign_webhook(SECRET, MESSAGE_ID, manila, BODY) == sign_webhook(
        SECRET, MESSAGE_ID, SENT, BODY
    )


def test_a_signature_from_the_standardwebhooks_package_verifies_with_ours() -> None:
    headers = {
        "Webhook-Id": MESSAGE_ID,
        "Webhook-Timestamp": str(int(SENT.timestamp())),
        "Webhook-Signature": Webhook(SECRET).sign(MESSAGE_ID, SENT, BODY.decode()),
    }
    assert verify_webhook(SECRET, headers, BODY, now=SENT)


def test_a_tampered_body_fails_verification_here_and_in_the_package() -> None:
    now = datetime.now(UTC)
    headers = sign_webhook(SECRET, MESSAGE_ID, now, BODY)
    tampered = BODY.replace(b"delivered", b"failed")
    assert not verify_webhook(SECRET, headers, tampered, now=now)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(tampered, headers)


def test_a_different_secret_fails_verification() -> None:
    headers = sign_webhook(SECRET, MESSAGE_ID, SENT, BODY)
    assert not verify_webhook(generate_webhook_secret(), headers, BODY, now=SENT)


def test_a_different_message_id_fails_verification() -> None:
    headers = sign_webhook(SECRET, MESSAGE_ID, SENT, BODY) | {"webhook-id": "msg_other"}
    assert not verify_webhook(SECRET, headers, BODY, now=SENT)


def test_a_different_timestamp_header_fails_verification() -> None:
    headers = sign_webhook(SECRET, MESSAGE_ID, SENT, BODY)
    headers["webhook-timestamp"] = str(int(headers["webhook-timestamp"]) + 1)
    assert not verify_webhook(SECRET, headers, BODY, now=SENT)


@pytest.mark.parametrize(
    ("offset", "valid"),
    [
        (timedelta(0), True),
        (timedelta(minutes=5), True),
        (-timedelta(minutes=5), True),
        (timedelta(minutes=5, seconds=1), False),
        (-timedelta(minutes=5, seconds=1), False),
        (timedelta(days=1), False),
    ],
    ids=["now", "5 min late", "5 min early", "stale", "from the future", "a day old"],
)
def test_verification_accepts_timestamps_only_within_the_tolerance(
    offset: timedelta, valid: bool
) -> None:
    headers = sign_webhook(SECRET, MESSAGE_ID, SENT, BODY)
    assert verify_webhook(SECRET, headers, BODY, now=SENT + offset) is valid


def test_a_custom_tolerance_is_honoured() -> None:
    headers = sign_webhook(SECRET, MESSAGE_ID, SENT, BODY)
    later = SENT + timedelta(seconds=30)
    assert not verify_webhook(SECRET, headers, BODY, now=later, tolerance=timedelta(seconds=10))
    assert verify_webhook(SECRET, headers, BODY, now=later, tolerance=timedelta(minutes=1))


def test_any_one_of_several_signatures_is_enough_while_rotating_secrets() -> None:
    old = sign_webhook(generate_webhook_secret(), MESSAGE_ID, SENT, BODY)
    new = sign_webhook(SECRET, MESSAGE_ID, SENT, BODY)
    headers = new | {
        "webhook-signature": f"v2,abc {old['webhook-signature']} {new['webhook-signature']}"
    }
    assert verify_webhook(SECRET, headers, BODY, now=SENT)


@pytest.mark.parametrize(
    "change",
    [
        {"webhook-signature": ""},
        {"webhook-signature": "v1,not base64!"},
        {"webhook-signature": "v2,c2lnbmF0dXJl"},
        {"webhook-timestamp": "1773480413.0"},
        {"webhook-timestamp": "nan"},
        {"webhook-timestamp": "-1773480413"},
        {"webhook-id": ""},
    ],
)
def test_malformed_or_missing_headers_fail_verification(change: dict[str, str]) -> None:
    headers = sign_webhook(SECRET, MESSAGE_ID, SENT, BODY) | change
    assert not verify_webhook(SECRET, headers, BODY, now=SENT)


def test_a_missing_signature_header_fails_verification() -> None:
    headers = sign_webhook(SECRET, MESSAGE_ID, SENT, BODY)
    del headers["webhook-signature"]
    assert not verify_webhook(SECRET, headers, BODY, now=SENT)


def test_generated_secrets_are_distinct_and_hold_32_random_bytes() -> None:
    secrets = {generate_webhook_secret() for _ in range(100)}
    assert len(secrets) == 100
    for secret in secrets:
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32


def test_an_unpadded_secret_is_read_like_the_standardwebhooks_package_reads_it() -> None:
    unpadded = SECRET.rstrip("=")
    assert sign_webhook(unpadded, MESSAGE_ID, SENT, BODY) == sign_webhook(
        SECRET, MESSAGE_ID, SENT, BODY
    )


@pytest.mark.parametrize(
    ("secret", "complaint"),
    [
        (base64.b64encode(bytes(32)).decode(), "must start with 'whsec_'"),
        ("whsec_", "has no key"),
        ("whsec_not*base64", "followed by base64"),
        ("whsec_abcde", "followed by base64"),
    ],
)
def test_a_malformed_secret_is_refused_with_a_clear_message(secret: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        sign_webhook(secret, MESSAGE_ID, SENT, BODY)
    with pytest.raises(ValueError, match=complaint):
        verify_webhook(secret, {}, BODY, now=SENT)


def test_naive_datetimes_are_refused_because_they_name_no_instant() -> None:
    naive = datetime(2026, 3, 14, 9, 26, 53)
    with pytest.raises(ValueError, match="timezone-aware"):
        sign_webhook(SECRET, MESSAGE_ID, naive, BODY)
    headers = sign_webhook(SECRET, MESSAGE_ID, SENT, BODY)
    with pytest.raises(ValueError, match="timezone-aware"):
        verify_webhook(SECRET, headers, BODY, now=naive)


@pytest.mark.parametrize("message_id", ["", "msg\r\nX-Injected: 1", "msg\x00"])
def test_a_message_id_that_could_break_the_headers_is_refused(message_id: str) -> None:
    with pytest.raises(ValueError, match="message id"):
        sign_webhook(SECRET, message_id, SENT, BODY)


def test_a_body_that_is_not_utf8_is_signed_as_raw_bytes() -> None:
    body = b"\xff\xfe binary"
    headers = sign_webhook(SECRET, MESSAGE_ID, SENT, body)
    assert verify_webhook(SECRET, headers, body, now=SENT)
    assert not verify_webhook(SECRET, headers, b"\xff\xfd binary", now=SENT)
