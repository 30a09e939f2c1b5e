"""The channel config file: channels (simulator, SMPP, HTTP gateways, the WhatsApp Cloud API)
and the routes to the SMS ones.

TAMBULI_CONFIG names a TOML file; without one, Tambuli has one simulator channel and one
catch-all route to it. Every key, default and rule is in docs/routing.md; anything the file gets
wrong is an InvalidChannelConfig naming the file, the table and the field.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import string
import tomllib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, NoReturn, TypeVar, overload
from urllib.parse import urlsplit

import phonenumbers

from tambuli.channels.routing import (
    Route,
    SenderKind,
    SenderRule,
    describe_sender,
    fits_sender_kind,
    list_operator_names,
)

# Re-exported: the other channels' modules name it from here.
from tambuli.channels.secrets import Secret as Secret
from tambuli.channels.smpp.fields import Concatenation
from tambuli.channels.smpp.receipts import IdFormat
from tambuli.channels.whatsapp.cloud_config import WhatsAppCloudConfig, read_whatsapp_cloud_config
from tambuli.channels.whatsapp.simulator import WHATSAPP_SIMULATOR
from tambuli.errors import InvalidChannelConfig

CONFIG_ENV_VAR = "TAMBULI_CONFIG"
DEFAULT_CHANNEL = "simulator"
DEFAULT_ROUTE = "default"
MAX_PARTS_PER_SECOND = 100_000.0
# SMPP 3.4 §5.2.5 (type of number) and §5.2.6 (numbering plan indicator).
SMPP_TONS = frozenset(range(7))
SMPP_NPIS = frozenset({0, 1, 3, 4, 6, 8, 9, 10, 14, 18})
# What an HTTP channel's field templates may say: {to} {from} {text} {reference}.
TEMPLATE_PLACEHOLDERS = frozenset({"to", "from", "text", "reference"})
# Preset name → default keys for a kind = "http" table; the table's own keys win over them.
HTTP_PRESETS: dict[str, Mapping[str, object]] = {}

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_DIGITS = re.compile(r"[0-9]{1,15}")
_SECRET_KEYS = ("password", "auth_header", "callback_token", "secret_fields")
_Choice = TypeVar("_Choice", bound=StrEnum)


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


def locate_channel_config(environ: Mapping[str, str]) -> Path | None:
    """The file TAMBULI_CONFIG names, or None when it is unset or empty."""
    raw = environ.get(CONFIG_ENV_VAR, "").strip()
    return Path(raw) if raw else None


def build_default_config(simulator_parts_per_second: float = 0.0) -> ChannelConfig:
    """One simulator channel and one catch-all route to it: Tambuli without a config file."""
    return ChannelConfig(
        channels=(SimulatorChannelConfig(DEFAULT_CHANNEL, simulator_parts_per_second),),
        routes=(Route(name=DEFAULT_ROUTE, channels=(DEFAULT_CHANNEL,)),),
        source=None,
    )


def load_channel_config(
    path: Path | None,
    environ: Mapping[str, str],
    *,
    simulator_parts_per_second: float = 0.0,
    http_presets: Mapping[str, Mapping[str, object]] = HTTP_PRESETS,
) -> ChannelConfig:
    """The channels and routes of the TOML file at path; the default config when path is None.

    `simulator_parts_per_second` is the default throughput of simulator channels (pass the
    TAMBULI_SIMULATOR_PARTS_PER_SECOND setting); secrets named by `*_env` come from `environ`.
    """
    if path is None:
        return build_default_config(simulator_parts_per_second)
    top = _Table(_read_toml(path), "the top level", path)
    top.refuse_unknown_keys(("channels", "routes"))
    channels: list[ChannelSpec] = []
    whatsapp: list[WhatsAppCloudConfig] = []
    for table in top.tables("channels"):
        channel = _read_channel(table, environ, simulator_parts_per_second, http_presets)
        if any(seen.name == channel.name for seen in [*channels, *whatsapp]):
            table.fail("name", f'another channel is already named "{channel.name}"')
        if isinstance(channel, WhatsAppCloudConfig):
            if channel.name == WHATSAPP_SIMULATOR:
                # A business number registered with --channel simulator means the simulator.
                table.fail("name", f'"{WHATSAPP_SIMULATOR}" is the WhatsApp simulator\'s name')
            whatsapp.append(channel)
        else:
            channels.append(channel)
    routes: list[Route] = []
    for table in top.tables("routes"):
        route = _read_route(table, [channel.name for channel in channels])
        if any(seen.name == route.name for seen in routes):
            table.fail("name", f'another route is already named "{route.name}"')
        routes.append(route)
    return ChannelConfig(tuple(channels), tuple(routes), path, tuple(whatsapp))


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except OSError as exc:
        raise InvalidChannelConfig(
            f"{path}: cannot read the file: {exc.strerror or exc}", {"file": str(path)}
        ) from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidChannelConfig(f"{path}: not valid TOML: {exc}", {"file": str(path)}) from exc


def _allowed_keys(config_class: type[Any]) -> set[str]:
    """The keys a [[channels]] table of this kind may have: its fields, with secret variants."""
    keys = {"kind"} | {field.name for field in dataclasses.fields(config_class)}
    for secret in keys.intersection(_SECRET_KEYS):
        keys |= {f"{secret}_env", f"{secret}_file"}
    return keys


def _read_channel(
    table: _Table,
    environ: Mapping[str, str],
    simulator_parts_per_second: float,
    http_presets: Mapping[str, Mapping[str, object]],
) -> ChannelSpec | WhatsAppCloudConfig:
    kind = table.text("kind")
    if kind == SimulatorChannelConfig.kind:
        table.refuse_unknown_keys(_allowed_keys(SimulatorChannelConfig))
        return SimulatorChannelConfig(
            _read_name(table),
            table.number("parts_per_second", default=simulator_parts_per_second, zero_ok=True),
        )
    if kind == SmppChannelConfig.kind:
        return _read_smpp_channel(table, environ)
    if kind == HttpChannelConfig.kind:
        return _read_http_channel(table, environ, http_presets)
    if kind == WhatsAppCloudConfig.kind:
        return read_whatsapp_cloud_config(
            table.raw, environ, where=table.where, source=table.source
        )
    table.fail(
        "kind", f'must be "simulator", "smpp", "http" or "whatsapp_cloud", got {_show(kind)}'
    )


def _read_name(table: _Table) -> str:
    name = table.text("name")
    if not _NAME.fullmatch(name):
        table.fail("name", "must be 1 to 64 letters, digits, '.', '_' or '-', starting with one")
    return name


def _read_smpp_channel(table: _Table, environ: Mapping[str, str]) -> SmppChannelConfig:
    table.refuse_unknown_keys(_allowed_keys(SmppChannelConfig))
    # Lengths are SMPP 3.4's C-octet string limits, less the terminating NUL (§4.1.1).
    config = SmppChannelConfig(
        name=_read_name(table),
        host=table.text("host"),
        port=table.whole("port", 1, 65_535),
        system_id=table.text("system_id", max_length=15),
        password=table.secret("password", environ, max_length=8),
        system_type=table.text("system_type", "", max_length=12),
        bind=table.choice("bind", BindMode, BindMode.TRANSCEIVER),
        window=table.whole("window", 1, 1000, 10),
        parts_per_second=table.number("parts_per_second"),
        enquire_link_seconds=table.number("enquire_link_seconds", 30.0, at_most=3600.0),
        response_timeout_seconds=table.number("response_timeout_seconds", 30.0, at_most=3600.0),
        reconnect_min_seconds=table.number("reconnect_min_seconds", 1.0, at_most=3600.0),
        reconnect_max_seconds=table.number("reconnect_max_seconds", 60.0, at_most=86_400.0),
        concatenation=table.choice("concatenation", Concatenation, Concatenation.UDH8),
        submit_id_format=table.choice("submit_id_format", IdFormat, IdFormat.TEXT),
        receipt_id_format=table.choice("receipt_id_format", IdFormat, IdFormat.TEXT),
        registered_delivery=table.flag("registered_delivery", True),
        address_range=table.text("address_range", "", max_length=40),
        source_ton=table.code("source_ton", SMPP_TONS, None),
        source_npi=table.code("source_npi", SMPP_NPIS, None),
        dest_ton=table.code("dest_ton", SMPP_TONS, 1),
        dest_npi=table.code("dest_npi", SMPP_NPIS, 1),
    )
    if config.reconnect_max_seconds < config.reconnect_min_seconds:
        table.fail("reconnect_max_seconds", "must not be less than reconnect_min_seconds")
    return config


def _read_http_channel(
    table: _Table, environ: Mapping[str, str], http_presets: Mapping[str, Mapping[str, object]]
) -> HttpChannelConfig:
    preset = table.raw.get("preset")
    if preset is not None:
        if not isinstance(preset, str) or preset not in http_presets:
            known = ", ".join(f'"{name}"' for name in sorted(http_presets)) or "none yet"
            table.fail("preset", f"unknown preset {_show(preset)} (known: {known})")
        table = _Table({**http_presets[preset], **table.raw}, table.where, table.source)
    table.refuse_unknown_keys(_allowed_keys(HttpChannelConfig))
    url = table.text("url")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        table.fail("url", f"must be an http:// or https:// URL with a host, got {_show(url)}")
    message_id_field = table.text("message_id_field")
    if not all(message_id_field.split(".")):
        table.fail("message_id_field", 'must be a dotted path like "data.id"')
    statuses = table.list_of("permanent_statuses", int, "whole numbers")
    if any(isinstance(status, bool) or not 100 <= status <= 599 for status in statuses):
        table.fail("permanent_statuses", "must be HTTP statuses from 100 to 599")
    return HttpChannelConfig(
        name=_read_name(table),
        preset=preset,
        url=url,
        method=table.choice("method", HttpMethod, HttpMethod.POST),
        body_format=table.choice("body_format", BodyFormat, BodyFormat.JSON),
        auth_header=table.optional_secret("auth_header", environ),
        fields=_read_templates(table),
        message_id_field=message_id_field,
        permanent_statuses=tuple(statuses),
        parts_per_second=table.number("parts_per_second"),
        callback_token=table.optional_secret("callback_token", environ),
        timeout_seconds=table.number("timeout_seconds", 10.0, at_most=300.0),
        secret_fields=_read_secret_fields(table, environ),
    )


def _read_secret_fields(table: _Table, environ: Mapping[str, str]) -> Mapping[str, Secret]:
    """secret_fields_env / secret_fields_file (or inline secret_fields): field → secret."""
    found: dict[str, Secret] = {}
    for key in ("secret_fields", "secret_fields_env", "secret_fields_file"):
        raw = table.raw.get(key)
        if raw is None:
            continue
        if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
            table.fail(key, 'must be a table of field names to strings, e.g. { api_key = "VAR" }')
        for name, reference in raw.items():
            if name in found or name in table.raw.get("fields", {}):
                table.fail(key, f'field "{name}" is given twice')
            inline = key == "secret_fields"
            found[name] = Secret(
                reference if inline else table.fetch_secret(key, reference, environ)
            )
    return MappingProxyType(found)


def _read_templates(table: _Table) -> Mapping[str, str]:
    raw = table.raw.get("fields")
    if not isinstance(raw, dict) or not raw:
        table.fail("fields", 'must be a table of request fields, e.g. { to = "{to}" }')
    used: set[str] = set()
    for field, template in raw.items():
        if not isinstance(template, str):
            table.fail(f"fields.{field}", f"must be a string, got {_show(template)}")
        try:
            names = {
                name for _, name, _, _ in string.Formatter().parse(template) if name is not None
            }
        except ValueError as exc:
            table.fail(f"fields.{field}", f"is not a valid template: {exc}")
        if not names <= TEMPLATE_PLACEHOLDERS:
            unknown = ", ".join(sorted(f"{{{name}}}" for name in names - TEMPLATE_PLACEHOLDERS))
            table.fail(f"fields.{field}", f"unknown placeholder {unknown}")
        used |= names
    if not {"to", "text"} <= used:
        table.fail("fields", "must use both {to} and {text}")
    return MappingProxyType(dict(raw))


def _read_route(table: _Table, channel_names: Collection[str]) -> Route:
    table.refuse_unknown_keys(("name", "countries", "prefixes", "operators", "channels", "sender"))
    countries = tuple(country.upper() for country in table.list_of("countries", str, "strings"))
    for country in countries:
        if country not in phonenumbers.SUPPORTED_REGIONS:
            table.fail("countries", f'"{country}" is not an ISO 3166 alpha-2 country code')
    prefixes = table.list_of("prefixes", str, "strings")
    for prefix in prefixes:
        if not _DIGITS.fullmatch(prefix):
            table.fail("prefixes", f'"{prefix}" is not 1 to 15 digits (no "+")')
    operators = table.list_of("operators", str, "strings")
    known = list_operator_names(countries)
    known_lower = {name.lower() for name in known}
    for operator in operators:
        if operator.lower() not in known_lower:
            where = f"in {', '.join(countries)}" if countries else "anywhere"
            hint = difflib.get_close_matches(operator, known, n=3)
            hint_text = f" (did you mean {', '.join(hint)}?)" if hint else ""
            table.fail(
                "operators", f'phonenumbers knows no operator "{operator}" {where}{hint_text}'
            )
    channels = table.list_of("channels", str, "strings")
    if not channels:
        table.fail("channels", "is required: list at least one channel name")
    for channel in channels:
        if channel not in channel_names:
            table.fail("channels", f'no channel is named "{channel}"')
    if len(set(channels)) != len(channels):
        table.fail("channels", "names a channel more than once")
    return Route(
        name=_read_name(table),
        countries=countries,
        prefixes=prefixes,
        operators=operators,
        channels=channels,
        sender=_read_sender_rule(table),
    )


def _read_sender_rule(route: _Table) -> SenderRule:
    raw = route.raw.get("sender", {})
    if not isinstance(raw, dict):
        route.fail("sender", f'must be a table like {{ kind = "any" }}, got {_show(raw)}')
    table = _Table(raw, route.where, route.source, "sender.")
    table.refuse_unknown_keys(("kind", "replacement", "ton", "npi"))
    kind = table.choice("kind", SenderKind, SenderKind.ANY)
    replacement = table.text("replacement", "")
    if replacement:
        address = describe_sender(replacement)
        if address is None or not fits_sender_kind(kind, address):
            table.fail("replacement", f'"{replacement}" is not an allowed {kind} sender ID')
    return SenderRule(
        kind=kind,
        replacement=replacement,
        ton=table.code("ton", SMPP_TONS, None),
        npi=table.code("npi", SMPP_NPIS, None),
    )


def _show(value: object) -> str:
    """A TOML value as an error message shows it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__}"


class _Table:
    """One TOML table being read; every error names the file, the table and the field."""

    def __init__(self, raw: Mapping[str, Any], where: str, source: Path, prefix: str = "") -> None:
        self.raw = raw
        self.where = where
        self.source = source
        # Keys of a nested table are named through their parent ("sender.kind").
        self.prefix = prefix

    def fail(self, key: str, problem: str) -> NoReturn:
        """Raise InvalidChannelConfig about one field of this table."""
        field = self.prefix + key
        raise InvalidChannelConfig(
            f'{self.source}: {self.where}, field "{field}": {problem}',
            {"file": str(self.source), "table": self.where, "field": field},
        )

    def refuse_unknown_keys(self, allowed: Iterable[str]) -> None:
        """Fail on the first key that is not allowed, so a typo cannot pass silently."""
        allowed = sorted(allowed)
        for key in self.raw:
            if key not in allowed:
                hint = difflib.get_close_matches(key, allowed, n=1)
                self.fail(
                    key, f'unknown key (did you mean "{hint[0]}"?)' if hint else "unknown key"
                )

    def tables(self, key: str) -> list[_Table]:
        """The [[key]] tables, at least one, each named by its name (or its place, from 1)."""
        raw = self.raw.get(key)
        if raw is None:
            self.fail(key, f"is required: add at least one [[{key}]] table")
        if not isinstance(raw, list) or not raw or not all(isinstance(t, dict) for t in raw):
            self.fail(key, f"must be [[{key}]] tables, got {_show(raw)}")
        found = []
        for place, table in enumerate(raw, start=1):
            name = table.get("name")
            named = isinstance(name, str) and name != ""
            found.append(
                _Table(table, f'{key} "{name}"' if named else f"{key}[{place}]", self.source)
            )
        return found

    def text(self, key: str, default: str | None = None, *, max_length: int = 1000) -> str:
        """A string; without a default it is required and must not be empty."""
        value = self.raw.get(key, default)
        if value is None:
            self.fail(key, "is required")
        if not isinstance(value, str):
            self.fail(key, f"must be a string, got {_show(value)}")
        if default is None and not value:
            self.fail(key, "must not be empty")
        if len(value) > max_length:
            self.fail(key, f"must be at most {max_length} characters")
        return value

    def whole(self, key: str, low: int, high: int, default: int | None = None) -> int:
        """An integer from low to high; required without a default."""
        value = self.raw.get(key, default)
        if value is None:
            self.fail(key, "is required")
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.fail(key, f"must be a whole number from {low} to {high}, got {_show(value)}")
        return value

    def number(
        self,
        key: str,
        default: float | None = None,
        *,
        at_most: float = MAX_PARTS_PER_SECOND,
        zero_ok: bool = False,
    ) -> float:
        """A positive number (int or float) up to at_most; required without a default."""
        value = self.raw.get(key, default)
        if value is None:
            self.fail(key, "is required")
        low = "from 0" if zero_ok else "above 0"
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or not (value >= 0 if zero_ok else value > 0)
            or value > at_most
        ):
            self.fail(key, f"must be a number {low} and at most {at_most:g}, got {_show(value)}")
        return float(value)

    def flag(self, key: str, default: bool) -> bool:
        """A TOML boolean (true or false, not a string or a number)."""
        value = self.raw.get(key, default)
        if not isinstance(value, bool):
            self.fail(key, f"must be true or false, got {_show(value)}")
        return value

    @overload
    def code(self, key: str, allowed: frozenset[int], default: int) -> int: ...

    @overload
    def code(self, key: str, allowed: frozenset[int], default: None) -> int | None: ...

    def code(self, key: str, allowed: frozenset[int], default: int | None) -> int | None:
        """One of a set of SMPP codes (TON or NPI); the default when absent."""
        value = self.raw.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or value not in allowed:
            shown = ", ".join(str(code) for code in sorted(allowed))
            self.fail(key, f"must be one of {shown}, got {_show(value)}")
        return int(value)

    def choice(self, key: str, choices: type[_Choice], default: _Choice) -> _Choice:
        """One of an enum's values, given as a string."""
        value = self.raw.get(key, default.value)
        allowed = [member.value for member in choices]
        if not isinstance(value, str) or value not in allowed:
            shown = ", ".join(f'"{choice}"' for choice in allowed)
            self.fail(key, f"must be one of {shown}, got {_show(value)}")
        return choices(value)

    def list_of(self, key: str, item: type[Any], items: str) -> tuple[Any, ...]:
        """An array whose items are all of one type; empty when absent."""
        value = self.raw.get(key, [])
        if not isinstance(value, list) or not all(isinstance(one, item) for one in value):
            self.fail(key, f"must be an array of {items}, got {_show(value)}")
        return tuple(value)

    def optional_secret(self, key: str, environ: Mapping[str, str]) -> Secret | None:
        """A secret as in `secret`, or None when none of its keys is given."""
        if not any(name in self.raw for name in (key, f"{key}_env", f"{key}_file")):
            return None
        return self.secret(key, environ)

    def secret(self, key: str, environ: Mapping[str, str], *, max_length: int = 1000) -> Secret:
        """A secret given as key_env (a variable), key_file (a file) or, discouraged, key."""
        given = [name for name in (key, f"{key}_env", f"{key}_file") if name in self.raw]
        if len(given) > 1:
            self.fail(given[1], f'give only one of "{key}_env", "{key}_file" and "{key}"')
        if not given:
            self.fail(key, f'is required: set "{key}_env", "{key}_file" or "{key}"')
        [chosen] = given
        raw = self.raw[chosen]
        if not isinstance(raw, str):
            # The value itself is never shown: it may be the secret.
            self.fail(chosen, "must be a string")
        value = raw if chosen == key else self.fetch_secret(chosen, raw, environ)
        if len(value) > max_length:
            self.fail(chosen, f"the secret must be at most {max_length} characters")
        return Secret(value)

    def fetch_secret(self, key: str, reference: str, environ: Mapping[str, str]) -> str:
        """The secret a key_env variable or key_file file holds."""
        if key.endswith("_env"):
            if reference not in environ:
                self.fail(key, f"environment variable {reference} is not set")
            if not environ[reference]:
                self.fail(key, f"environment variable {reference} is empty")
            return environ[reference]
        # A relative path is read from the config file's folder, wherever the process started.
        path = self.source.parent / reference
        try:
            value = path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            self.fail(key, f"cannot read {path}: {exc.strerror or exc}")
        except UnicodeDecodeError:
            self.fail(key, f"{path} is not UTF-8 text")
        if not value:
            self.fail(key, f"{path} is empty")
        return value
