"""The WhatsApp channels of a worker process: the simulator, and each Cloud API channel of the
channel config file, by the name business numbers give (`--channel`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from tambuli.channels.whatsapp.base import WhatsAppChannel
from tambuli.channels.whatsapp.cloud import CloudApiChannel
from tambuli.channels.whatsapp.cloud_config import WhatsAppCloudConfig
from tambuli.channels.whatsapp.simulator import WHATSAPP_SIMULATOR, WhatsAppSimulator
from tambuli.clock import Clock
from tambuli.db.engine import Database
from tambuli.outbound_http import OutboundHttp
from tambuli.settings import Settings
from tambuli.whatsapp.access_tokens import AccessTokens
from tambuli.whatsapp.simulator_journal import DatabaseOwedEvents


def build_whatsapp_channels(
    db: Database,
    clock: Clock,
    settings: Settings,
    cloud: Sequence[WhatsAppCloudConfig],
    client: OutboundHttp,
    tokens: AccessTokens,
) -> dict[str, WhatsAppChannel]:
    """The WhatsApp channels of this process by the name business numbers name."""
    delay = timedelta(seconds=settings.simulator_receipt_delay)
    simulator = WhatsAppSimulator(DatabaseOwedEvents(db), clock, delay)
    channels: dict[str, WhatsAppChannel] = {WHATSAPP_SIMULATOR: simulator}
    for config in cloud:
        # A number's own token (the variable it names), else the channel's access_token.
        find_token = tokens.find_token_or(config.access_token)
        channels[config.name] = CloudApiChannel(config, client, find_token=find_token, clock=clock)
    return channels
