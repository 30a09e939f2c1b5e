"""`kind = "whatsapp_cloud"` tables in the channel config file: kept apart from SMS channels."""

from __future__ import annotations

from pathlib import Path

import pytest

from tambuli.channels.config.file import load_channel_config
from tambuli.channels.config.specs import ChannelConfig
from tambuli.errors import InvalidChannelConfig

CLOUD = """
[[channels]]
name = "{name}"
kind = "whatsapp_cloud"
app_secret_env = "APP_SECRET"
verify_token = "verify-me"
"""
SIMULATOR = """
[[channels]]
name = "sms"
kind = "simulator"
"""


def _load(tmp_path: Path, text: str) -> ChannelConfig:
    path = tmp_path / "tambuli.toml"
    path.write_text(text, encoding="utf-8")
    return load_channel_config(path, {"APP_SECRET": "s3cret"})


def test_a_cloud_channel_is_a_whatsapp_channel_and_no_sms_channel(tmp_path: Path) -> None:
    route = '\n[[routes]]\nname = "all"\nchannels = ["sms"]\n'
    config = _load(tmp_path, SIMULATOR + CLOUD.format(name="meta") + route)
    assert [c.name for c in config.channels] == ["sms"]
    cloud = config.find_whatsapp_channel("meta")
    assert cloud is not None
    assert cloud.app_secret.reveal() == "s3cret"
    assert cloud.verify_token.reveal() == "verify-me"
    assert config.find_channel("meta") is None
    assert config.find_whatsapp_channel("sms") is None


def test_an_sms_route_cannot_name_a_cloud_channel(tmp_path: Path) -> None:
    route = '\n[[routes]]\nname = "all"\nchannels = ["meta"]\n'
    with pytest.raises(InvalidChannelConfig, match='no channel is named "meta"'):
        _load(tmp_path, SIMULATOR + CLOUD.format(name="meta") + route)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (SIMULATOR + CLOUD.format(name="sms"), 'another channel is already named "sms"'),
        (CLOUD.format(name="simulator"), "the WhatsApp simulator's name"),
        (CLOUD.format(name="meta").replace("verify_token", "verify_tokn"), "unknown key"),
    ],
)
def test_a_cloud_channel_table_is_refused_with_its_field(
    tmp_path: Path, text: str, problem: str
) -> None:
    with pytest.raises(InvalidChannelConfig, match=problem):
        _load(tmp_path, text)
