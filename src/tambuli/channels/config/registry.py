"""The channels of a process and the route table that picks one for each message."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tambuli.channels.base import Channel, LinkState
from tambuli.channels.config.routing import (
    SENDER_REFUSED_ERROR,
    RouteTable,
    SenderKind,
    resolve_sender,
)
from tambuli.records import frozen_record

NO_ROUTE_ERROR = "no route"


@frozen_record
class Routed:
    """Where one message goes: a channel and the sender to use, or why it cannot go."""

    channel: Channel | None
    sender: str = ""
    sender_ton: int | None = None
    sender_npi: int | None = None
    error: str = ""


Router = Callable[[str, str], Routed]


class ChannelRegistry:
    """Every channel of a process, routed by the configured table with failover."""

    def __init__(self, channels: Sequence[Channel], routes: RouteTable) -> None:
        self.channels = list(channels)
        self._by_name = {channel.name: channel for channel in channels}
        self._routes = routes

    def find_channel(self, name: str) -> Channel | None:
        """The channel with this name, or None."""
        return self._by_name.get(name)

    def is_available(self, name: str) -> bool:
        """Whether the channel can take traffic now (bound, for SMPP)."""
        channel = self._by_name.get(name)
        return channel is not None and channel.read_state() == LinkState.UP

    def route(self, recipient: str, sender: str) -> Routed:
        """The channel (first available of the route's failover list) and sender for a message."""
        choice = self._routes.choose_channel(recipient, self.is_available)
        if choice is None:
            return Routed(None, error=NO_ROUTE_ERROR)
        channel = self._by_name[choice.channel]
        rule = choice.route.sender
        if rule.kind == SenderKind.ANY and not rule.replacement and rule.ton is None:
            # No rule to apply: the sender goes as the organization wrote it.
            return Routed(channel, sender)
        address = resolve_sender(rule, sender)
        if address is None:
            return Routed(None, error=SENDER_REFUSED_ERROR)
        return Routed(channel, address.address, address.ton, address.npi)


def route_all_to(channel: Channel) -> Router:
    """A router that sends everything through one channel, senders unchanged."""

    def route(recipient: str, sender: str) -> Routed:
        return Routed(channel, sender)

    return route
