"""Standard Webhooks (standardwebhooks.com) signatures for outbound pushes.

The receiver checks `webhook-signature` = "v1," + base64(HMAC-SHA256(key, content)) where content
is f"{webhook-id}.{webhook-timestamp}.{body}" and key is the base64 part of a "whsec_" secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta

WEBHOOK_SECRET_PREFIX = "whsec_"  # noqa: S105 (a fixed prefix, not a secret)
SECRET_BYTES = 32
SIGNATURE_VERSION = "v1"
# Sixteen digits is far beyond any plausible Unix time and keeps int() away from huge inputs.
_MAX_TIMESTAMP_DIGITS = 16


def generate_webhook_secret() -> str:
    """A new random signing secret: "whsec_" followed by base64 of 32 random bytes."""
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _secret_key(secret: str) -> bytes:
    """The HMAC key inside a "whsec_" secret, or ValueError saying what is wrong with it."""
    if not secret.startswith(WEBHOOK_SECRET_PREFIX):
        raise ValueError(f"webhook secret must start with {WEBHOOK_SECRET_PREFIX!r}")
    encoded = secret[len(WEBHOOK_SECRET_PREFIX) :]
    # Other implementations emit unpadded base64 too, so restore the padding before decoding.
    padded = encoded + "=" * (-len(encoded) % 4)
    try:
        key = base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValueError(
            f"webhook secret must be {WEBHOOK_SECRET_PREFIX!r} followed by base64: {error}"
        ) from None
    if not key:
        raise ValueError(f"webhook secret has no key after {WEBHOOK_SECRET_PREFIX!r}")
    return key


def _unix_time(moment: datetime, name: str) -> float:
    """Unix time of an aware datetime; naive ones are ambiguous, so they are refused."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
    return moment.timestamp()


def _signature(key: bytes, message_id: str, seconds: int, body: bytes) -> bytes:
    """The raw HMAC-SHA256 over the signed content; the body is used as bytes, never decoded."""
    content = f"{message_id}.{seconds}.".encode() + body
    return hmac.new(key, content, hashlib.sha256).digest()


def sign_webhook(secret: str, message_id: str, timestamp: datetime, body: bytes) -> dict[str, str]:
    """The webhook-id, webhook-timestamp and webhook-signature headers for one delivery."""
    key = _secret_key(secret)
    # The id travels in a header, so anything that could split or fold headers is refused.
    if not message_id or not message_id.isascii() or not message_id.isprintable():
        raise ValueError("webhook message id must be non-empty printable ASCII")
    seconds = math.floor(_unix_time(timestamp, "timestamp"))
    signature = base64.b64encode(_signature(key, message_id, seconds, body)).decode()
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(seconds),
        "webhook-signature": f"{SIGNATURE_VERSION},{signature}",
    }


def verify_webhook(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    now: datetime,
    tolerance: timedelta = timedelta(minutes=5),
) -> bool:
    """Whether the headers carry a valid, fresh signature of body made with secret."""
    key = _secret_key(secret)
    now_seconds = _unix_time(now, "now")
    lowered = {name.lower(): value for name, value in headers.items()}
    message_id = lowered.get("webhook-id", "")
    timestamp = lowered.get("webhook-timestamp", "").strip()
    signatures = lowered.get("webhook-signature", "")
    if not (message_id and timestamp and signatures):
        return False
    # The spec says integer seconds; insisting on plain digits also rules out "1e9" and "nan".
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > _MAX_TIMESTAMP_DIGITS:
        return False
    seconds = int(timestamp)
    # Refusing old and future timestamps alike limits how long a captured request can be replayed.
    if abs(now_seconds - seconds) > tolerance.total_seconds():
        return False
    expected = _signature(key, message_id, seconds, body)
    matched = False
    # Several signatures are allowed while a secret is rotated; any one valid v1 signature counts.
    for versioned in signatures.split():
        version, _, encoded = versioned.partition(",")
        if version != SIGNATURE_VERSION:
            continue
        try:
            candidate = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        # compare_digest keeps the comparison time independent of where the bytes differ.
        if hmac.compare_digest(expected, candidate):
            matched = True
    return matched
