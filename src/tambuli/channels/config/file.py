"""The channel config file: channels (simulator, SMPP, HTTP gateways, the WhatsApp Cloud API)
and the routes to the SMS ones.

TAMBULI_CONFIG names a TOML file; without one, Tambuli has one simulator channel and one
catch-all route to it. Every key, default and rule is in docs/routing.md; anything the file gets
wrong is an InvalidChannelConfig naming the file, the table and the field.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tambuli.channels.config.channel_tables import read_channel
from tambuli.channels.config.route_tables import read_route
from tambuli.channels.config.routing import Route
from tambuli.channels.config.specs import ChannelConfig, ChannelSpec, SimulatorChannelConfig
from tambuli.channels.config.toml_table import ConfigTable
from tambuli.channels.whatsapp.cloud_config import WhatsAppCloudConfig
from tambuli.channels.whatsapp.simulator import WHATSAPP_SIMULATOR
from tambuli.errors import InvalidChannelConfig

CONFIG_ENV_VAR = "TAMBULI_CONFIG"
DEFAULT_CHANNEL = "simulator"
DEFAULT_ROUTE = "default"
# Preset name → default keys for a kind = "http" table; the table's own keys win over them.
HTTP_PRESETS: dict[str, Mapping[str, object]] = {}


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
    top = ConfigTable(_read_toml(path), "the top level", path)
    top.refuse_unknown_keys(("channels", "routes"))
    channels: list[ChannelSpec] = []
    whatsapp: list[WhatsAppCloudConfig] = []
    for table in top.tables("channels"):
        channel = read_channel(table, environ, simulator_parts_per_second, http_presets)
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
        route = read_route(table, [channel.name for channel in channels])
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
