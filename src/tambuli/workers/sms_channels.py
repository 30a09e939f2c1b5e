"""The SMS channels of a worker process (the simulator alone by default, or those of the channel
config file), and the delivery rules their throughput limits shape."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from tambuli.channels.base import Channel
from tambuli.channels.config.specs import ChannelConfig, HttpChannelConfig, SmppChannelConfig
from tambuli.channels.sms.http_gateway import HttpGatewayChannel
from tambuli.channels.sms.simulator import SimulatorChannel
from tambuli.channels.sms.smpp.channel import SmppChannel
from tambuli.clock import Clock
from tambuli.db.engine import Database
from tambuli.messaging.delivery import DeliveryRules
from tambuli.messaging.simulator_journal import DatabaseJournal
from tambuli.outbound_http import OutboundHttp
from tambuli.retries import RetryPolicy
from tambuli.settings import Settings

# Batches dispatched at once: while one awaits its channel's answers (a bind's window lets
# only so many parts be in flight), the next is claimed, paced and queued behind it, so the
# channel never waits for a claim or a record. Measured on one SMPP bind with a window of 10:
# one loop handed about 1,950 msg/s at 2,000 offered, two kept up.
DISPATCH_LOOPS = 2


def build_delivery_rules(settings: Settings, channels: Sequence[Channel] = ()) -> DeliveryRules:
    """Delivery behaviour from the process settings and the channels' throughput limits."""
    batch_size = settings.dispatch_batch_size
    limits = [c.parts_per_second for c in channels if c.parts_per_second > 0]
    if limits:
        # A claimed batch must reach its channel well within the claim's lease, or another
        # worker takes it over while it is still being handed off (and sends it twice). The
        # batches in flight at once queue behind one another at the channel.
        within_lease = min(limits) * settings.claim_lease_seconds / (2 * DISPATCH_LOOPS)
        batch_size = min(batch_size, max(1, int(within_lease)))
    return DeliveryRules(
        retry=RetryPolicy(
            base=timedelta(seconds=settings.retry_base_seconds),
            maximum=timedelta(seconds=settings.retry_max_seconds),
        ),
        lease=timedelta(seconds=settings.claim_lease_seconds),
        batch_size=batch_size,
        pacing_limit=settings.recipient_per_minute,
    )


def build_channels(
    db: Database,
    clock: Clock,
    settings: Settings,
    config: ChannelConfig,
    client: OutboundHttp,
) -> list[Channel]:
    """The channels of the configuration (the simulator alone by default)."""
    channels: list[Channel] = []
    for spec in config.channels:
        if isinstance(spec, SmppChannelConfig):
            channels.append(SmppChannel(spec, clock))
        elif isinstance(spec, HttpChannelConfig):
            channels.append(HttpGatewayChannel(spec, client, secret_fields=spec.secret_fields))
        else:
            channels.append(
                SimulatorChannel(
                    DatabaseJournal(db),
                    clock,
                    receipt_delay=timedelta(seconds=settings.simulator_receipt_delay),
                    parts_per_second=spec.parts_per_second,
                    name=spec.name,
                )
            )
    return channels
