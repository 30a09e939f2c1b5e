"""What the Cloud API's error codes mean for a message: retry it, or give up, and in which words.

The Graph API answers a refused request with `{"error": {"code": …, "message": …,
"error_data": {"details": …}}}`, and a message that fails after it was accepted carries the
same codes in its `failed` status. Meta asks clients to act on `code`, not on titles or HTTP
statuses (developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes).

Rate limits and Meta's own trouble are TRANSIENT; everything that names this message, its
recipient, its template or our account's permissions is PERMANENT. An unknown code is
transient only when the HTTP status says the server is in trouble (429, 5xx): a wrong
"transient" costs retries until the deadline, but an unknown 4xx code is about the request,
and sending the same request again would be refused again.
"""

from __future__ import annotations

from dataclasses import dataclass

from tambuli.channels.base import Outcome

_ERROR_LIMIT = 200


@dataclass(frozen=True)
class CloudError:
    """What one error code means: the outcome and the engageSPARK-style `error` words."""

    outcome: Outcome
    error: str


def _transient(error: str) -> CloudError:
    return CloudError(Outcome.TRANSIENT, error)


def _permanent(error: str) -> CloudError:
    return CloudError(Outcome.PERMANENT, error)


# Code → meaning. The words are what the message record's `error` shows (and a failed status'
# reason), with the code appended so an operator can look it up.
KNOWN_ERRORS: dict[int, CloudError] = {
    # Authorization: the token or the app's permissions; fixed by an operator, not by retrying.
    0: _permanent("access token refused"),
    3: _permanent("app lacks the permission"),
    10: _permanent("permission denied"),
    190: _permanent("access token expired or invalid"),
    # Throttling: slow down and try again.
    4: _transient("throttled: too many API calls"),
    80007: _transient("throttled: account rate limit"),
    130429: _transient("throttled: number's throughput limit"),
    131048: _transient("throttled: spam rate limit"),
    131056: _transient("throttled: too many messages to this recipient"),
    # Meta's side is in trouble.
    1: _transient("provider error"),
    2: _transient("provider temporarily unavailable"),
    131000: _transient("provider error"),
    131016: _transient("provider temporarily unavailable"),
    131057: _transient("business account in maintenance"),
    133004: _transient("provider temporarily unavailable"),
    # The request, its recipient or our account.
    33: _permanent("unknown business number"),
    100: _permanent("invalid parameter"),
    368: _permanent("business account blocked for policy violations"),
    130472: _permanent("recipient is in a Meta experiment"),
    130497: _permanent("business account cannot message this country"),
    131005: _permanent("access denied"),
    131008: _permanent("required parameter missing"),
    131009: _permanent("invalid parameter value"),
    131021: _permanent("recipient cannot be the sender"),
    131026: _permanent("undeliverable: recipient not on WhatsApp or cannot receive it"),
    131031: _permanent("business account locked"),
    131037: _permanent("display name not approved"),
    131042: _permanent("business account payment problem"),
    131045: _permanent("business number not registered (certificate)"),
    131047: _permanent("outside the 24-hour window: a template is required"),
    131049: _permanent("not delivered by Meta to keep engagement healthy"),
    131050: _permanent("recipient stopped marketing messages"),
    131051: _permanent("unsupported message type"),
    131052: _permanent("media download failed"),
    131053: _permanent("media upload failed"),
    132000: _permanent("template parameter count mismatch"),
    132001: _permanent("template does not exist in this language"),
    132005: _permanent("template text too long"),
    132007: _permanent("template content policy violated"),
    132012: _permanent("template parameter format mismatch"),
    132015: _permanent("template paused"),
    132016: _permanent("template disabled"),
    133010: _permanent("business number not registered"),
    135000: _permanent("refused by the provider"),
}


def classify_error(code: int | None, http_status: int, details: str = "") -> CloudError:
    """The outcome and `error` words for a refusal with this code (None: no code) and status."""
    known = KNOWN_ERRORS.get(code) if code is not None else None
    if known is None and code is not None and 200 <= code <= 299:
        known = _permanent("permission denied")
    if known is None and code is not None and 132000 <= code <= 132999:
        known = _permanent("template refused")
    if known is not None:
        return CloudError(known.outcome, _short(f"{known.error} ({code})"))
    label = f"WhatsApp error {code}" if code is not None else f"WhatsApp HTTP {http_status}"
    text = _short(f"{label}: {details}" if details else label)
    if http_status == 429 or http_status >= 500 or http_status < 400:
        return _transient(text)
    return _permanent(text)


def describe_failure(code: int | None, title: str = "") -> str:
    """The reason a `failed` status gives, in a few words: ours for known codes, else Meta's."""
    known = KNOWN_ERRORS.get(code) if code is not None else None
    if known is not None:
        return _short(f"{known.error} ({code})")
    if code is None:
        return _short(title or "failed")
    return _short(f"{title} ({code})" if title else f"WhatsApp error {code}")


def _short(text: str) -> str:
    return " ".join(text.split())[:_ERROR_LIMIT]
