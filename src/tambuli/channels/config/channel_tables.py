"""The [[channels]] tables of the config file, each read by its kind: simulator, SMPP, HTTP or
the WhatsApp Cloud API."""

from __future__ import annotations

import dataclasses
import string
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from tambuli.channels.config.specs import (
    SMPP_NPIS,
    SMPP_TONS,
    BindMode,
    BodyFormat,
    ChannelSpec,
    HttpChannelConfig,
    HttpMethod,
    SimulatorChannelConfig,
    SmppChannelConfig,
)
from tambuli.channels.config.toml_table import ConfigTable, read_name, show_value
from tambuli.channels.secrets import Secret
from tambuli.channels.sms.smpp.fields import Concatenation
from tambuli.channels.sms.smpp.receipts import IdFormat
from tambuli.channels.whatsapp.cloud_config import WhatsAppCloudConfig, read_whatsapp_cloud_config

# What an HTTP channel's field templates may say: {to} {from} {text} {reference}.
TEMPLATE_PLACEHOLDERS = frozenset({"to", "from", "text", "reference"})

_SECRET_KEYS = ("password", "auth_header", "callback_token", "secret_fields")


def _allowed_keys(config_class: type[Any]) -> set[str]:
    """The keys a [[channels]] table of this kind may have: its fields, with secret variants."""
    keys = {"kind"} | {field.name for field in dataclasses.fields(config_class)}
    for secret in keys.intersection(_SECRET_KEYS):
        keys |= {f"{secret}_env", f"{secret}_file"}
    return keys


def read_channel(
    table: ConfigTable,
    environ: Mapping[str, str],
    simulator_parts_per_second: float,
    http_presets: Mapping[str, Mapping[str, object]],
) -> ChannelSpec | WhatsAppCloudConfig:
    """One [[channels]] table, read by its kind; secrets named by `*_env` come from environ."""
    kind = table.text("kind")
    if kind == SimulatorChannelConfig.kind:
        table.refuse_unknown_keys(_allowed_keys(SimulatorChannelConfig))
        return SimulatorChannelConfig(
            read_name(table),
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
        "kind",
        f'must be "simulator", "smpp", "http" or "whatsapp_cloud", got {show_value(kind)}',
    )


def _read_smpp_channel(table: ConfigTable, environ: Mapping[str, str]) -> SmppChannelConfig:
    table.refuse_unknown_keys(_allowed_keys(SmppChannelConfig))
    # Lengths are SMPP 3.4's C-octet string limits, less the terminating NUL (§4.1.1).
    config = SmppChannelConfig(
        name=read_name(table),
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
    table: ConfigTable, environ: Mapping[str, str], http_presets: Mapping[str, Mapping[str, object]]
) -> HttpChannelConfig:
    preset = table.raw.get("preset")
    if preset is not None:
        if not isinstance(preset, str) or preset not in http_presets:
            known = ", ".join(f'"{name}"' for name in sorted(http_presets)) or "none yet"
            table.fail("preset", f"unknown preset {show_value(preset)} (known: {known})")
        table = ConfigTable({**http_presets[preset], **table.raw}, table.where, table.source)
    table.refuse_unknown_keys(_allowed_keys(HttpChannelConfig))
    url = table.text("url")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        table.fail("url", f"must be an http:// or https:// URL with a host, got {show_value(url)}")
    message_id_field = table.text("message_id_field")
    if not all(message_id_field.split(".")):
        table.fail("message_id_field", 'must be a dotted path like "data.id"')
    statuses = table.list_of("permanent_statuses", int, "whole numbers")
    if any(isinstance(status, bool) or not 100 <= status <= 599 for status in statuses):
        table.fail("permanent_statuses", "must be HTTP statuses from 100 to 599")
    return HttpChannelConfig(
        name=read_name(table),
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


def _read_secret_fields(table: ConfigTable, environ: Mapping[str, str]) -> Mapping[str, Secret]:
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


def _read_templates(table: ConfigTable) -> Mapping[str, str]:
    raw = table.raw.get("fields")
    if not isinstance(raw, dict) or not raw:
        table.fail("fields", 'must be a table of request fields, e.g. { to = "{to}" }')
    used: set[str] = set()
    for field, template in raw.items():
        if not isinstance(template, str):
            table.fail(f"fields.{field}", f"must be a string, got {show_value(template)}")
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
