"""What the channel config file declares: one frozen record per channel kind, and the whole file."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import ClassVar

from tambuli.channels.config.routing import Route
from tambuli.channels.secrets import Secret
from tambuli.channels.sms.smpp.fields import Concatenation
from tambuli.channels.sms.smpp.receipts import IdFormat
from tambuli.channels.whatsapp.cloud_config import WhatsAppCloudConfig

# SMPP 3.4 §5.2.5 (type of number) and §5.2.6 (numbering plan indicator).
SMPP_TONS = frozenset(range(7))
SMPP_NPIS = frozenset({0, 1, 3, 4, 6, 8, 9, 10, 14, 18})


class BindMode(StrEnum):
    """How an SMPP channel binds to the SMSC."""

    TRANSCEIVER = "transceiver"  # one bind_transceiver session sends and receives
    TRANSMITTER_RECEIVER = "transmitter_receiver"  # two sessions: one to send, one to receive


class HttpMethod(StrEnum):
    """The HTTP method of a gateway's send request."""

    POST = "POST"  # the fields go in the body
    GET = "GET"  # the fields go in the query string


class BodyFormat(StrEnum):
    """How a POST request's fields are encoded."""

    JSON = "json"  # a JSON object
    FORM = "form"  # application/x-www-form-urlencoded


@dataclass(frozen=True)
class SimulatorChannelConfig:
    """The built-in simulator; parts_per_second 0 means unlimited (the simulator only)."""

    kind: ClassVar[str] = "simulator"
    name: str
    parts_per_second: float = 0.0


@dataclass(frozen=True, kw_only=True)
class SmppChannelConfig:
    """An SMPP 3.4 connection to an SMSC."""

    kind: ClassVar[str] = "smpp"
    name: str
    host: str
    port: int
    system_id: str
    password: Secret
    system_type: str = ""
    bind: BindMode = BindMode.TRANSCEIVER
    window: int = 10
    # Required on purpose: a silent default throughput is what users of other gateways trip on.
    parts_per_second: float
    enquire_link_seconds: float = 30.0
    response_timeout_seconds: float = 30.0
    reconnect_min_seconds: float = 1.0
    reconnect_max_seconds: float = 60.0
    concatenation: Concatenation = Concatenation.UDH8
    submit_id_format: IdFormat = IdFormat.TEXT
    receipt_id_format: IdFormat = IdFormat.TEXT
    registered_delivery: bool = True
    address_range: str = ""
    # None: from the route's sender rule (see routing.resolve_sender).
    source_ton: int | None = None
    source_npi: int | None = None
    dest_ton: int = 1
    dest_npi: int = 1


@dataclass(frozen=True, kw_only=True)
class HttpChannelConfig:
    """A generic HTTP SMS gateway: one request per message, fields filled from templates."""

    kind: ClassVar[str] = "http"
    name: str
    preset: str | None
    url: str
    method: HttpMethod
    body_format: BodyFormat
    # The Authorization header's whole value (e.g. "Bearer …"); None sends none.
    auth_header: Secret | None
    # Request field → template using {to} {from} {text} {reference}.
    fields: Mapping[str, str]
    # Dotted path to the gateway's message ID in its JSON answer (e.g. "data.id").
    message_id_field: str
    # HTTP statuses that refuse a message for good; any other error status is transient.
    permanent_statuses: tuple[int, ...]
    parts_per_second: float
    # What the gateway must present when it calls back with receipts; None: no callbacks.
    callback_token: Secret | None
    timeout_seconds: float = 10.0
    # Request fields whose values are secrets (an aggregator's api_key and api_secret).
    secret_fields: Mapping[str, Secret] = dataclasses.field(default_factory=dict)


ChannelSpec = SimulatorChannelConfig | SmppChannelConfig | HttpChannelConfig


@dataclass(frozen=True)
class ChannelConfig:
    """Every channel and route of a process; `source` is the file they came from (None: default)."""

    channels: tuple[ChannelSpec, ...]
    routes: tuple[Route, ...]
    source: Path | None
    # WhatsApp Cloud API channels: business numbers name them; SMS routes never do.
    whatsapp: tuple[WhatsAppCloudConfig, ...] = ()

    def find_channel(self, name: str) -> ChannelSpec | None:
        """The channel with this name, or None."""
        return next((channel for channel in self.channels if channel.name == name), None)

    def find_whatsapp_channel(self, name: str) -> WhatsAppCloudConfig | None:
        """The WhatsApp Cloud API channel with this name, or None."""
        return next((channel for channel in self.whatsapp if channel.name == name), None)
