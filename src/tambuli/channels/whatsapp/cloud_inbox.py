"""One Cloud API webhook POST, read whole: what the webhook route records and what it answers.

The route calls `read_webhook` with the raw body and the X-Hub-Signature-256 header, then
records the statuses and inbound messages (idempotently: Meta may deliver a body twice) and
answers 200, or 503 when `deliver_again` is set. Everything else (signature, parsing, media
downloads, which failures are worth Meta's redelivery) is decided here.
"""

from __future__ import annotations

from dataclasses import dataclass

from tambuli.channels.base import Outcome
from tambuli.channels.whatsapp.base import InboundWhatsApp, WhatsAppStatus
from tambuli.channels.whatsapp.cloud_config import WhatsAppCloudConfig
from tambuli.channels.whatsapp.cloud_graph import TokenFinder
from tambuli.channels.whatsapp.cloud_media import InboundMediaFetcher, MediaRefused, drop_media
from tambuli.channels.whatsapp.cloud_webhooks import parse_webhook, verify_signature
from tambuli.outbound_http import OutboundHttp


@dataclass(frozen=True)
class WebhookContent:
    """What a signed webhook body carried, ready to record."""

    statuses: tuple[WhatsAppStatus, ...]
    inbound: tuple[InboundWhatsApp, ...]
    # Parts that could not be read (never an error: Meta would only send them again).
    skipped: int
    # Why, one reason per skipped part or file, for the log.
    reasons: tuple[str, ...]
    # Some media could not be fetched now (an outage, a refused token): record what is here,
    # then answer 503 so Meta delivers the body again; those messages are left out until then.
    deliver_again: bool


async def read_webhook(
    body: bytes,
    signature: str | None,
    config: WhatsAppCloudConfig,
    fetcher: InboundMediaFetcher,
) -> WebhookContent | None:
    """The body's statuses and inbound messages with their media; None if not signed by Meta."""
    if not verify_signature(body, signature, config.app_secret):
        return None
    parsed = parse_webhook(body, config.name)
    inbound: list[InboundWhatsApp] = []
    reasons = list(parsed.reasons)
    deliver_again = False
    for pending in parsed.inbound:
        try:
            inbound.append(await fetcher.fetch_media(pending))
        except MediaRefused as refused:
            reasons.append(f"message {pending.message.operator_event_id}: {refused}")
            if refused.refusal.outcome == Outcome.PERMANENT:
                # The file is gone for good: the message is worth keeping without it.
                inbound.append(drop_media(pending))
            else:
                deliver_again = True
    return WebhookContent(
        statuses=parsed.statuses,
        inbound=tuple(inbound),
        skipped=parsed.skipped,
        reasons=tuple(reasons),
        deliver_again=deliver_again,
    )


def build_media_fetcher(
    client: OutboundHttp, config: WhatsAppCloudConfig, find_token: TokenFinder | None = None
) -> InboundMediaFetcher:
    """The fetcher of a channel's inbound media: numbers' own tokens, else the channel's."""
    return InboundMediaFetcher(
        client,
        config.api_url,
        find_token or (lambda phone_number_id: config.access_token),
        config.timeout_seconds,
    )
