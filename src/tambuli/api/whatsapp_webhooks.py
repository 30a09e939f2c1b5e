"""GET/POST /v1/whatsapp/webhooks/{channel}: Meta's webhooks for one WhatsApp Cloud API channel.

GET is the subscription handshake: the challenge as text/plain when `hub.verify_token` is the
channel's, else 403. POST carries statuses and inbound messages, signed with the app secret in
X-Hub-Signature-256 over the raw body: a missing or wrong signature is 401 and nothing is
read. A signed body is read whole first (cloud_inbox.read_webhook: parsing, and the inbound
media fetched from the Graph API with the number's token, outside any transaction), then
recorded (whatsapp/statuses.py, whatsapp/inbound.py), then answered 200, so Meta, which
delivers again whatever is not answered 200, does not. Recording is idempotent: a body
delivered twice changes nothing the second time. Media Meta cannot give now answers 503, so
Meta delivers the body again later; the rest of it is recorded already.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from litestar import Litestar, MediaType, Request, Response, get, post
from litestar.params import FromPath

from tambuli.api.gateway_callbacks import channel_config_of
from tambuli.api.runtime import runtime_of
from tambuli.channels.whatsapp.cloud_config import WhatsAppCloudConfig
from tambuli.channels.whatsapp.cloud_inbox import build_media_fetcher, read_webhook
from tambuli.channels.whatsapp.cloud_webhooks import (
    SIGNATURE_HEADER,
    answer_subscription,
    verify_signature,
)
from tambuli.errors import NotFound
from tambuli.outbound_http import OutboundHttp
from tambuli.whatsapp.access_tokens import RELOAD_ON_MISS_SECONDS, AccessTokens
from tambuli.whatsapp.inbound import WhatsAppEventLog

log = logging.getLogger("tambuli.whatsapp")
WEBHOOK_PATH = "/v1/whatsapp/webhooks/{channel:str}"
# The app state's HTTP client for inbound media, and its copy of the numbers' token variables.
CLIENT_STATE = "whatsapp_media_client"
TOKENS_STATE = "whatsapp_access_tokens"


def find_cloud_channel(request: Request[Any, Any, Any], name: str) -> WhatsAppCloudConfig:
    """The Cloud API channel of this name in the app's channel config; NotFound if none."""
    config = channel_config_of(request)
    channel = None if config is None else config.find_whatsapp_channel(name)
    if channel is None:
        raise NotFound(f'No WhatsApp Cloud API channel is named "{name}"')
    return channel


@get(WEBHOOK_PATH, include_in_schema=False)
async def answer_whatsapp_handshake(
    request: Request[Any, Any, Any], channel: FromPath[str]
) -> Response[Any]:
    """Meta's subscription handshake: echo hub.challenge when hub.verify_token is right."""
    config = find_cloud_channel(request, channel)
    query = {key: str(value) for key, value in request.query_params.items()}
    challenge = answer_subscription(query, config.verify_token)
    if challenge is None:
        body = {"error": "Wrong verify token or mode", "errorCode": "auth.forbidden"}
        return Response(body, status_code=403, media_type=MediaType.JSON)
    return Response(challenge, status_code=200, media_type=MediaType.TEXT)


@post(WEBHOOK_PATH, include_in_schema=False, status_code=200)
async def receive_whatsapp_webhook(
    request: Request[Any, Any, Any], channel: FromPath[str]
) -> Response[Any]:
    """Record the statuses and inbound messages of one signed webhook body."""
    config = find_cloud_channel(request, channel)
    body = await request.body()
    signature = request.headers.get(SIGNATURE_HEADER)
    # Checked before anything else is done for the caller (read_webhook checks it again).
    if not verify_signature(body, signature, config.app_secret):
        refusal = {"error": "Missing or wrong X-Hub-Signature-256", "errorCode": "auth.signature"}
        return Response(refusal, status_code=401, media_type=MediaType.JSON)
    runtime = runtime_of(request)
    tokens = _tokens_of(request.app)
    await tokens.reload_if_stale(runtime.db)
    fetcher = build_media_fetcher(
        _client_of(request.app), config, tokens.find_token_or(config.access_token)
    )
    content = await read_webhook(body, signature, config, fetcher)
    # Media refused for now may be a number's registered since the last read: with the numbers
    # read again, the body is taken now rather than at Meta's next delivery.
    if (
        content is not None
        and content.deliver_again
        and await tokens.reload_if_stale(runtime.db, RELOAD_ON_MISS_SECONDS)
    ):
        content = await read_webhook(body, signature, config, fetcher)
    assert content is not None  # the signature was checked above
    events = WhatsAppEventLog(runtime.db, runtime.clock, runtime.settings.max_file_bytes)
    await events.record_statuses(content.statuses)
    await events.record_inbound(content.inbound)
    if content.statuses or content.inbound:
        runtime.wake_events()
    for reason in content.reasons:
        log.info("WhatsApp webhook on %s: skipped %s", config.name, reason)
    if content.deliver_again:
        unavailable = {
            "error": "Some media could not be fetched now; deliver this webhook again",
            "errorCode": "whatsapp.mediaunavailable",
        }
        return Response(unavailable, status_code=503, media_type=MediaType.JSON)
    answer = {
        "statuses": len(content.statuses),
        "messages": len(content.inbound),
        "skipped": content.skipped,
    }
    return Response(answer, status_code=200, media_type=MediaType.JSON)


def _tokens_of(app: Litestar) -> AccessTokens:
    tokens = app.state.get(TOKENS_STATE)
    if not isinstance(tokens, AccessTokens):
        # The tokens are the variables the numbers name, in this process's environment.
        tokens = AccessTokens(os.environ)
        app.state[TOKENS_STATE] = tokens
    return tokens


def _client_of(app: Litestar) -> OutboundHttp:
    client = app.state.get(CLIENT_STATE)
    if not isinstance(client, OutboundHttp):
        client = OutboundHttp()
        app.state[CLIENT_STATE] = client
    return client


async def close_media_client(app: Litestar) -> None:
    """Close the inbound media client at shutdown, if a webhook made one."""
    client = app.state.get(CLIENT_STATE)
    if isinstance(client, OutboundHttp):
        await client.close()


WHATSAPP_WEBHOOK_ROUTES: list[Any] = [answer_whatsapp_handshake, receive_whatsapp_webhook]
