"""Reading a `kind = "whatsapp_cloud"` channel table, and what it refuses."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from tambuli.channels.secrets import Secret
from tambuli.channels.whatsapp.cloud_config import (
    API_VERSION,
    GRAPH_URL,
    MESSAGES_PER_SECOND,
    WhatsAppCloudConfig,
    read_whatsapp_cloud_config,
)
from tambuli.channels.whatsapp.cloud_graph import find_tokens_in_environ
from tambuli.errors import InvalidChannelConfig

ENVIRON = {"WA_SECRET": "app-secret", "WA_VERIFY": "verify", "WA_TOKEN": "token"}
MINIMAL = """
name = "whatsapp"
kind = "whatsapp_cloud"
app_secret_env = "WA_SECRET"
verify_token_env = "WA_VERIFY"
"""


def read(text: str, tmp_path: Path, environ: dict[str, str] = ENVIRON) -> WhatsAppCloudConfig:
    """The config of one table written in TOML, as the config file's loader would pass it."""
    source = tmp_path / "channels.toml"
    raw: dict[str, Any] = tomllib.loads(text)
    return read_whatsapp_cloud_config(raw, environ, where='channels "whatsapp"', source=source)


def test_the_smallest_table_takes_meta_defaults(tmp_path: Path) -> None:
    config = read(MINIMAL, tmp_path)
    assert (config.name, config.app_secret, config.verify_token) == (
        "whatsapp",
        Secret("app-secret"),
        Secret("verify"),
    )
    assert config.access_token is None
    assert (config.graph_url, config.api_version) == (GRAPH_URL, API_VERSION)
    assert config.api_url == f"https://graph.facebook.com/{API_VERSION}"
    assert config.messages_per_second == MESSAGES_PER_SECOND
    assert "app-secret" not in repr(config)


def test_every_key_can_be_set(tmp_path: Path) -> None:
    (tmp_path / "token.txt").write_text("file-token\n")
    config = read(
        MINIMAL
        + 'access_token_file = "token.txt"\ngraph_url = "http://127.0.0.1:9000/"\n'
        + 'api_version = "v21.0"\nmessages_per_second = 20\nmax_concurrent = 4\n'
        + "timeout_seconds = 5.5\n",
        tmp_path,
    )
    assert config.access_token == Secret("file-token")
    assert config.api_url == "http://127.0.0.1:9000/v21.0"
    assert (config.messages_per_second, config.max_concurrent, config.timeout_seconds) == (
        20.0,
        4,
        5.5,
    )


@pytest.mark.parametrize(
    ("extra", "field", "problem"),
    [
        ('app_secrt = "x"\n', "app_secrt", 'did you mean "app_secret"'),
        ('api_version = "23"\n', "api_version", 'must look like "v23.0"'),
        ('graph_url = "graph.facebook.com"\n', "graph_url", "must be an http:// or https:// URL"),
        ("messages_per_second = -1\n", "messages_per_second", "must be a number from 0"),
        ("max_concurrent = 0\n", "max_concurrent", "must be a whole number from 1"),
        ("max_concurrent = 2.5\n", "max_concurrent", "must be a whole number from 1"),
        ('access_token_env = "UNSET"\n', "access_token_env", "UNSET is not set or empty"),
        ('access_token_file = "missing.txt"\n', "access_token_file", "cannot read"),
        (
            'access_token = "a"\naccess_token_env = "WA_TOKEN"\n',
            "access_token_env",
            "give only one",
        ),
    ],
)
def test_mistakes_name_the_file_table_and_field(
    tmp_path: Path, extra: str, field: str, problem: str
) -> None:
    with pytest.raises(InvalidChannelConfig) as raised:
        read(MINIMAL + extra, tmp_path)
    message = str(raised.value)
    assert f'channels "whatsapp", field "{field}"' in message and problem in message
    assert str(tmp_path / "channels.toml") in message


def test_the_app_secret_and_verify_token_are_required(tmp_path: Path) -> None:
    with pytest.raises(InvalidChannelConfig, match='field "app_secret": is required'):
        read('name = "w"\nkind = "whatsapp_cloud"\nverify_token = "v"\n', tmp_path)
    with pytest.raises(InvalidChannelConfig, match='field "verify_token": is required'):
        read('name = "w"\nkind = "whatsapp_cloud"\napp_secret = "s"\n', tmp_path)


def test_each_number_finds_its_token_in_the_variable_registered_for_it() -> None:
    token_envs = {"1001": "ACME_TOKEN", "1002": "UNSET_TOKEN"}
    environ = {"ACME_TOKEN": "acme", "UNSET_TOKEN": ""}
    find_token = find_tokens_in_environ(token_envs, environ, Secret("channel"))
    assert find_token("1001") == Secret("acme")
    assert find_token("1002") == Secret("channel")
    assert find_token("9999") == Secret("channel")
    token_envs["9999"] = "ACME_TOKEN"
    assert find_token("9999") == Secret("acme")
    assert find_tokens_in_environ({}, environ)("1001") is None
