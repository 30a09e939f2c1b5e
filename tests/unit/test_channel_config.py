"""The channel config file: defaults, secrets, every refusal naming file, table and field."""

from __future__ import annotations

import re
from pathlib import Path

import phonenumbers
import pytest
from phonenumbers import carrier

from tambuli.channels.config.file import (
    build_default_config,
    load_channel_config,
    locate_channel_config,
)
from tambuli.channels.config.routing import Route, RouteTable, SenderKind, SenderRule
from tambuli.channels.config.specs import (
    BindMode,
    BodyFormat,
    ChannelConfig,
    HttpChannelConfig,
    HttpMethod,
    SimulatorChannelConfig,
    SmppChannelConfig,
)
from tambuli.channels.secrets import Secret
from tambuli.channels.sms.http_presets import PRESET_DEFAULTS
from tambuli.channels.sms.smpp.fields import Concatenation
from tambuli.channels.sms.smpp.receipts import IdFormat
from tambuli.errors import InvalidChannelConfig

EXAMPLE = Path(__file__).resolve().parents[2] / "tambuli.example.toml"
ENVIRON = {"SMSC_PASSWORD": "s3cret", "GATEWAY_AUTH": "Bearer tok"}

SMPP = {
    "name": '"smsc"',
    "kind": '"smpp"',
    "host": '"127.0.0.1"',
    "port": "2775",
    "system_id": '"tambuli"',
    "password_env": '"SMSC_PASSWORD"',
    "parts_per_second": "50",
}
HTTP = {
    "name": '"gateway"',
    "kind": '"http"',
    "url": '"https://gateway.example.com/sms"',
    "fields": '{ to = "{to}", text = "{text}" }',
    "message_id_field": '"data.id"',
    "parts_per_second": "20",
}
ROUTE = {"name": '"all"', "channels": '["smsc"]'}


def table(header: str, base: dict[str, str], **changes: str | None) -> str:
    """A [[header]] table: base keys (TOML literals) with some replaced, added or (None) removed."""
    keys = {**base, **changes}
    return f"[[{header}]]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items() if v is not None)


def smpp(**changes: str | None) -> str:
    return table("channels", SMPP, **changes)


def http(**changes: str | None) -> str:
    return table("channels", HTTP, **changes)


def route(**changes: str | None) -> str:
    return table("routes", ROUTE, **changes)


def write(folder: Path, *tables: str) -> Path:
    path = folder / "tambuli.toml"
    path.write_text("\n".join(tables), encoding="utf-8")
    return path


def load(folder: Path, *tables: str, environ: dict[str, str] | None = None) -> ChannelConfig:
    return load_channel_config(write(folder, *tables), ENVIRON if environ is None else environ)


def refusal(folder: Path, *tables: str, environ: dict[str, str] | None = None) -> str:
    """The message of the InvalidChannelConfig the file raises; it always names the file."""
    with pytest.raises(InvalidChannelConfig) as raised:
        load(folder, *tables, environ=environ)
    assert raised.value.message.startswith(f"{folder / 'tambuli.toml'}: ")
    return raised.value.message


# --- defaults ------------------------------------------------------------------------------
def test_without_a_file_there_is_one_simulator_and_a_catch_all_route_to_it() -> None:
    config = load_channel_config(None, {}, simulator_parts_per_second=2000.0)
    assert config == ChannelConfig(
        channels=(SimulatorChannelConfig("simulator", 2000.0),),
        routes=(Route(name="default", channels=("simulator",)),),
        source=None,
    )
    assert config == build_default_config(2000.0)


def test_the_config_file_is_named_by_tambuli_config() -> None:
    assert locate_channel_config({"TAMBULI_CONFIG": "/etc/tambuli.toml"}) == Path(
        "/etc/tambuli.toml"
    )
    assert locate_channel_config({"TAMBULI_CONFIG": ""}) is None
    assert locate_channel_config({}) is None


def test_an_smpp_channel_takes_the_documented_defaults(tmp_path: Path) -> None:
    config = load(tmp_path, smpp(), route())
    assert config.channels == (
        SmppChannelConfig(
            name="smsc",
            host="127.0.0.1",
            port=2775,
            system_id="tambuli",
            password=Secret("s3cret"),
            system_type="",
            bind=BindMode.TRANSCEIVER,
            window=10,
            parts_per_second=50.0,
            enquire_link_seconds=30.0,
            response_timeout_seconds=30.0,
            reconnect_min_seconds=1.0,
            reconnect_max_seconds=60.0,
            concatenation=Concatenation.UDH8,
            submit_id_format=IdFormat.TEXT,
            receipt_id_format=IdFormat.TEXT,
            registered_delivery=True,
            address_range="",
            source_ton=None,
            source_npi=None,
            dest_ton=1,
            dest_npi=1,
        ),
    )
    assert config.routes == (Route(name="all", channels=("smsc",), sender=SenderRule()),)
    assert config.source == tmp_path / "tambuli.toml"
    assert config.find_channel("smsc") is config.channels[0]
    assert config.find_channel("nope") is None


def test_every_smpp_key_can_be_set(tmp_path: Path) -> None:
    channel = smpp(
        system_type='"VMA"',
        bind='"transmitter_receiver"',
        window="100",
        parts_per_second="12.5",
        enquire_link_seconds="15",
        response_timeout_seconds="5.5",
        reconnect_min_seconds="2",
        reconnect_max_seconds="120",
        concatenation='"sar"',
        submit_id_format='"hex"',
        receipt_id_format='"decimal"',
        registered_delivery="false",
        address_range='"^639"',
        source_ton="5",
        source_npi="0",
        dest_ton="0",
        dest_npi="9",
    )
    [config] = load(tmp_path, channel, route()).channels
    assert isinstance(config, SmppChannelConfig)
    assert (config.system_type, config.bind, config.window) == (
        "VMA",
        BindMode.TRANSMITTER_RECEIVER,
        100,
    )
    assert (config.parts_per_second, config.enquire_link_seconds) == (12.5, 15.0)
    assert (config.response_timeout_seconds, config.reconnect_min_seconds) == (5.5, 2.0)
    assert config.reconnect_max_seconds == 120.0
    assert config.concatenation is Concatenation.SAR
    assert (config.submit_id_format, config.receipt_id_format) == (IdFormat.HEX, IdFormat.DECIMAL)
    assert (config.registered_delivery, config.address_range) == (False, "^639")
    assert (config.source_ton, config.source_npi, config.dest_ton, config.dest_npi) == (5, 0, 0, 9)


def test_an_http_channel_takes_the_documented_defaults(tmp_path: Path) -> None:
    [config] = load(tmp_path, http(), route(channels='["gateway"]')).channels
    assert config == HttpChannelConfig(
        name="gateway",
        preset=None,
        url="https://gateway.example.com/sms",
        method=HttpMethod.POST,
        body_format=BodyFormat.JSON,
        auth_header=None,
        fields={"to": "{to}", "text": "{text}"},
        message_id_field="data.id",
        permanent_statuses=(),
        parts_per_second=20.0,
        callback_token=None,
        timeout_seconds=10.0,
    )


def test_an_http_channel_reads_its_secrets_and_options(tmp_path: Path) -> None:
    channel = http(
        method='"GET"',
        body_format='"form"',
        auth_header_env='"GATEWAY_AUTH"',
        callback_token='"cb"',
        permanent_statuses="[400, 422]",
        timeout_seconds="3",
    )
    [config] = load(tmp_path, channel, route(channels='["gateway"]')).channels
    assert isinstance(config, HttpChannelConfig)
    assert (config.method, config.body_format) == (HttpMethod.GET, BodyFormat.FORM)
    assert config.auth_header == Secret("Bearer tok")
    assert config.callback_token == Secret("cb")
    assert (config.permanent_statuses, config.timeout_seconds) == ((400, 422), 3.0)


def test_a_preset_gives_defaults_that_the_table_overrides(tmp_path: Path) -> None:
    presets = {
        "acme": {
            "url": "https://acme.example.com/send",
            "fields": {"msisdn": "{to}", "body": "{text}"},
            "message_id_field": "id",
            "permanent_statuses": [400],
        }
    }
    channel = table(
        "channels",
        {"name": '"acme"', "kind": '"http"', "preset": '"acme"', "parts_per_second": "5"},
        message_id_field='"result.id"',
    )
    path = write(tmp_path, channel, route(channels='["acme"]'))
    [config] = load_channel_config(path, {}, http_presets=presets).channels
    assert isinstance(config, HttpChannelConfig)
    assert (config.preset, config.url) == ("acme", "https://acme.example.com/send")
    assert config.fields == {"msisdn": "{to}", "body": "{text}"}
    assert (config.message_id_field, config.permanent_statuses) == ("result.id", (400,))


def test_a_simulator_channel_defaults_to_the_given_throughput(tmp_path: Path) -> None:
    tables = (
        table("channels", {"name": '"sim"', "kind": '"simulator"'}),
        table("channels", {"name": '"unlimited"', "kind": '"simulator"', "parts_per_second": "0"}),
        route(channels='["sim"]'),
    )
    path = write(tmp_path, *tables)
    config = load_channel_config(path, {}, simulator_parts_per_second=750.0)
    assert config.channels == (
        SimulatorChannelConfig("sim", 750.0),
        SimulatorChannelConfig("unlimited", 0.0),
    )


def test_a_route_reads_its_criteria_and_sender_rule(tmp_path: Path) -> None:
    rule = '{ kind = "alphanumeric", replacement = "TAMBULI", ton = 5, npi = 0 }'
    tables = (
        smpp(),
        route(countries='["ph"]', prefixes='["63917"]', operators='["globe"]', sender=rule),
    )
    [config] = load(tmp_path, *tables).routes
    assert config == Route(
        name="all",
        countries=("PH",),
        prefixes=("63917",),
        operators=("globe",),
        channels=("smsc",),
        sender=SenderRule(SenderKind.ALPHANUMERIC, "TAMBULI", 5, 0),
    )


# --- secrets -------------------------------------------------------------------------------
def test_a_secret_comes_from_an_environment_variable(tmp_path: Path) -> None:
    [config] = load(tmp_path, smpp(), route()).channels
    assert isinstance(config, SmppChannelConfig)
    assert config.password.reveal() == "s3cret"


def test_a_secret_file_is_read_without_its_trailing_newline(tmp_path: Path) -> None:
    (tmp_path / "password").write_text("fromfile\n", encoding="utf-8")
    secret_path = tmp_path / "password"
    for reference in (str(secret_path), "password"):  # absolute, then relative to the config
        channel = smpp(password_env=None, password_file=f'"{reference}"')
        [config] = load(tmp_path, channel, route()).channels
        assert isinstance(config, SmppChannelConfig)
        assert config.password.reveal() == "fromfile"


def test_a_secret_may_be_given_inline(tmp_path: Path) -> None:
    [config] = load(tmp_path, smpp(password_env=None, password='"inline"'), route()).channels
    assert isinstance(config, SmppChannelConfig)
    assert config.password.reveal() == "inline"


def test_secrets_never_appear_in_repr_or_str(tmp_path: Path) -> None:
    channel = http(auth_header_env='"GATEWAY_AUTH"', callback_token='"cb-token"')
    config = load(tmp_path, smpp(), channel, route())
    shown = repr(config) + str(config)
    for secret in ("s3cret", "Bearer tok", "cb-token"):
        assert secret not in shown
    assert repr(Secret("x")) == "Secret('***')" == str(Secret("x"))


# --- refusals ------------------------------------------------------------------------------
def test_the_refusal_carries_the_error_code_and_where(tmp_path: Path) -> None:
    with pytest.raises(InvalidChannelConfig) as raised:
        load(tmp_path, smpp(port="0"), route())
    assert raised.value.error_code == "config.invalid"
    assert raised.value.context == {
        "file": str(tmp_path / "tambuli.toml"),
        "table": 'channels "smsc"',
        "field": "port",
    }


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"pasword_env": '"X"'}, 'field "pasword_env": unknown key (did you mean "password_env"?)'),
        ({"colour": '"red"'}, 'field "colour": unknown key'),
        ({"host": None}, 'field "host": is required'),
        ({"host": '""'}, 'field "host": must not be empty'),
        ({"port": None}, 'field "port": is required'),
        ({"system_id": None}, 'field "system_id": is required'),
        ({"parts_per_second": None}, 'field "parts_per_second": is required'),
        ({"port": '"2775"'}, 'field "port": must be a whole number from 1 to 65535, got "2775"'),
        ({"port": "0"}, 'field "port": must be a whole number from 1 to 65535, got 0'),
        ({"port": "65536"}, 'field "port": must be a whole number from 1 to 65535, got 65536'),
        ({"port": "true"}, 'field "port": must be a whole number from 1 to 65535, got true'),
        ({"window": "0"}, 'field "window": must be a whole number from 1 to 1000, got 0'),
        ({"window": "1001"}, 'field "window": must be a whole number from 1 to 1000, got 1001'),
        ({"window": "1.5"}, 'field "window": must be a whole number from 1 to 1000, got 1.5'),
        (
            {"parts_per_second": "0"},
            'field "parts_per_second": must be a number above 0 and at most 100000, got 0',
        ),
        (
            {"parts_per_second": "-1"},
            'field "parts_per_second": must be a number above 0 and at most 100000, got -1',
        ),
        (
            {"parts_per_second": "100000.5"},
            'field "parts_per_second": must be a number above 0 and at most 100000',
        ),
        ({"parts_per_second": "nan"}, 'field "parts_per_second": must be a number above 0'),
        ({"parts_per_second": '"50"'}, 'field "parts_per_second": must be a number above 0'),
        ({"parts_per_second": "true"}, 'field "parts_per_second": must be a number above 0'),
        ({"enquire_link_seconds": "0"}, 'field "enquire_link_seconds": must be a number above 0'),
        ({"registered_delivery": '"yes"'}, 'field "registered_delivery": must be true or false'),
        ({"registered_delivery": "1"}, 'field "registered_delivery": must be true or false, got 1'),
        (
            {"bind": '"receiver"'},
            'field "bind": must be one of "transceiver", "transmitter_receiver", got "receiver"',
        ),
        ({"concatenation": '"udh"'}, 'field "concatenation": must be one of "udh8", "udh16"'),
        ({"receipt_id_format": '"octal"'}, 'field "receipt_id_format": must be one of "text"'),
        ({"submit_id_format": "1"}, 'field "submit_id_format": must be one of "text"'),
        ({"dest_ton": "7"}, 'field "dest_ton": must be one of 0, 1, 2, 3, 4, 5, 6, got 7'),
        ({"source_npi": "2"}, 'field "source_npi": must be one of 0, 1, 3, 4, 6, 8, 9, 10, 14, 18'),
        ({"source_ton": "false"}, 'field "source_ton": must be one of 0, 1'),
        (
            {"reconnect_min_seconds": "10", "reconnect_max_seconds": "5"},
            'field "reconnect_max_seconds": must not be less than reconnect_min_seconds',
        ),
        ({"system_id": '"a-very-long-system-id"'}, 'field "system_id": must be at most 15'),
        ({"system_type": '"thirteen-char"'}, 'field "system_type": must be at most 12'),
        (
            {"kind": '"smtp"'},
            'field "kind": must be "simulator", "smpp", "http" or "whatsapp_cloud", got "smtp"',
        ),
        ({"kind": None}, 'field "kind": is required'),
    ],
)
def test_a_bad_smpp_table_is_refused_naming_the_field(
    tmp_path: Path, changes: dict[str, str | None], expected: str
) -> None:
    message = refusal(tmp_path, smpp(**changes), route())
    assert f'channels "smsc", {expected}' in message


def test_a_name_that_is_not_a_plain_word_is_refused(tmp_path: Path) -> None:
    message = refusal(tmp_path, smpp(name='"has space"'), route())
    assert 'channels "has space", field "name": must be 1 to 64 letters, digits, ' in message


@pytest.mark.parametrize(
    ("changes", "environ", "expected"),
    [
        ({}, {}, 'field "password_env": environment variable SMSC_PASSWORD is not set'),
        ({}, {"SMSC_PASSWORD": ""}, 'field "password_env": environment variable SMSC_PASSWORD is'),
        ({"password_env": None}, ENVIRON, 'field "password": is required: set "password_env"'),
        (
            {"password": '"inline"'},
            ENVIRON,
            'field "password_env": give only one of "password_env", "password_file" and "password"',
        ),
        ({"password_env": "42"}, ENVIRON, 'field "password_env": must be a string'),
        (
            {"password_env": None, "password": '"ninechars"'},
            ENVIRON,
            'field "password": the secret must be at most 8 characters',
        ),
    ],
)
def test_a_missing_or_doubled_secret_is_refused(
    tmp_path: Path, changes: dict[str, str | None], environ: dict[str, str], expected: str
) -> None:
    message = refusal(tmp_path, smpp(**changes), route(), environ=environ)
    assert f'channels "smsc", {expected}' in message


def test_an_inline_secret_of_the_wrong_type_is_refused_without_showing_it(tmp_path: Path) -> None:
    message = refusal(tmp_path, smpp(password_env=None, password="12345678"), route())
    assert message.endswith('channels "smsc", field "password": must be a string')


def test_an_unreadable_or_empty_secret_file_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    message = refusal(tmp_path, smpp(password_env=None, password_file=f'"{missing}"'), route())
    assert f'channels "smsc", field "password_file": cannot read {missing}: ' in message
    (tmp_path / "empty").write_text("\n", encoding="utf-8")
    message = refusal(tmp_path, smpp(password_env=None, password_file='"empty"'), route())
    assert f'field "password_file": {tmp_path / "empty"} is empty' in message


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"url": '"ftp://example.com/"'}, 'field "url": must be an http:// or https:// URL'),
        ({"url": '"https://"'}, 'field "url": must be an http:// or https:// URL with a host'),
        ({"url": None}, 'field "url": is required'),
        ({"method": '"PUT"'}, 'field "method": must be one of "POST", "GET", got "PUT"'),
        ({"body_format": '"xml"'}, 'field "body_format": must be one of "json", "form"'),
        ({"fields": None}, 'field "fields": must be a table of request fields'),
        ({"fields": '{ to = "{to}" }'}, 'field "fields": must use both {to} and {text}'),
        (
            {"fields": '{ to = "{to}", t = "{body}" }'},
            'field "fields.t": unknown placeholder {body}',
        ),
        ({"fields": '{ to = "{to}", t = "{text" }'}, 'field "fields.t": is not a valid template'),
        ({"fields": '{ to = "{to}", t = 1 }'}, 'field "fields.t": must be a string, got 1'),
        ({"message_id_field": '"data..id"'}, 'field "message_id_field": must be a dotted path'),
        ({"message_id_field": None}, 'field "message_id_field": is required'),
        ({"permanent_statuses": "[99]"}, 'field "permanent_statuses": must be HTTP statuses'),
        ({"permanent_statuses": '["400"]'}, 'field "permanent_statuses": must be an array of'),
        ({"parts_per_second": None}, 'field "parts_per_second": is required'),
        ({"timeout_seconds": "0"}, 'field "timeout_seconds": must be a number above 0'),
        ({"preset": '"acme"'}, 'field "preset": unknown preset "acme" (known: none yet)'),
        ({"auth_header_env": '"NOPE"'}, 'field "auth_header_env": environment variable NOPE is'),
        ({"username": '"x"'}, 'field "username": unknown key'),
    ],
)
def test_a_bad_http_table_is_refused_naming_the_field(
    tmp_path: Path, changes: dict[str, str | None], expected: str
) -> None:
    message = refusal(tmp_path, http(**changes), route(channels='["gateway"]'))
    assert f'channels "gateway", {expected}' in message


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"chanels": '["smsc"]'}, 'field "chanels": unknown key (did you mean "channels"?)'),
        ({"channels": None}, 'field "channels": is required: list at least one channel'),
        ({"channels": "[]"}, 'field "channels": is required: list at least one channel'),
        ({"channels": '["smsc", "smsc"]'}, 'field "channels": names a channel more than once'),
        ({"channels": '["smpp"]'}, 'field "channels": no channel is named "smpp"'),
        ({"channels": '"smsc"'}, 'field "channels": must be an array of strings, got "smsc"'),
        ({"countries": '["XX"]'}, 'field "countries": "XX" is not an ISO 3166 alpha-2'),
        ({"countries": '"PH"'}, 'field "countries": must be an array of strings'),
        ({"prefixes": '["+63917"]'}, 'field "prefixes": "+63917" is not 1 to 15 digits'),
        ({"prefixes": "[63917]"}, 'field "prefixes": must be an array of strings'),
        (
            {"operators": '["Glob"]', "countries": '["PH"]'},
            'field "operators": phonenumbers knows no operator "Glob" in PH (did you mean Globe',
        ),
        (
            {"operators": '["Smart"]', "countries": '["SG"]'},
            'field "operators": phonenumbers knows no operator "Smart" in SG',
        ),
        (
            {"operators": '["Globee"]'},
            'field "operators": phonenumbers knows no operator "Globee" anywhere (did you mean',
        ),
        ({"sender": '"TAMBULI"'}, 'field "sender": must be a table like { kind = "any" }'),
        ({"sender": '{ knd = "any" }'}, 'field "sender.knd": unknown key (did you mean "kind"?)'),
        (
            {"sender": '{ kind = "alpha" }'},
            'field "sender.kind": must be one of "any", "alphanumeric", "numeric", got "alpha"',
        ),
        (
            {"sender": '{ kind = "alphanumeric", replacement = "2910" }'},
            'field "sender.replacement": "2910" is not an allowed alphanumeric sender ID',
        ),
        (
            {"sender": '{ replacement = "TWELVE-CHARS" }'},
            'field "sender.replacement": "TWELVE-CHARS" is not an allowed any sender ID',
        ),
        ({"sender": "{ ton = 9 }"}, 'field "sender.ton": must be one of 0, 1, 2, 3, 4, 5, 6'),
        ({"sender": "{ npi = 2 }"}, 'field "sender.npi": must be one of 0, 1, 3, 4'),
    ],
)
def test_a_bad_route_is_refused_naming_the_field(
    tmp_path: Path, changes: dict[str, str | None], expected: str
) -> None:
    message = refusal(tmp_path, smpp(), route(**changes))
    assert f'routes "all", {expected}' in message


def test_a_table_without_a_usable_name_is_named_by_its_place(tmp_path: Path) -> None:
    message = refusal(tmp_path, smpp(), route(), route(name=None))
    assert 'routes[2], field "name": is required' in message
    message = refusal(tmp_path, smpp(), smpp(name="7"), route())
    assert 'channels[2], field "name": must be a string, got 7' in message


def test_two_channels_with_one_name_are_refused(tmp_path: Path) -> None:
    message = refusal(tmp_path, smpp(), smpp(host='"10.0.0.2"'), route())
    assert 'channels "smsc", field "name": another channel is already named "smsc"' in message


def test_two_routes_with_one_name_are_refused(tmp_path: Path) -> None:
    message = refusal(tmp_path, smpp(), route(), route())
    assert 'routes "all", field "name": another route is already named "all"' in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 'the top level, field "channels": is required: add at least one [[channels]] table'),
        (smpp(), 'the top level, field "routes": is required: add at least one [[routes]] table'),
        (
            '[channels]\nname = "x"\n',
            'the top level, field "channels": must be [[channels]] tables, got a table',
        ),
        ("channels = []\n", 'the top level, field "channels": must be [[channels]] tables'),
        (smpp() + route() + "version = 2\n", "unknown key"),
        (
            "routes = 1\n" + smpp(),
            'the top level, field "routes": must be [[routes]] tables, got 1',
        ),
        ("[[channels]\n", "not valid TOML: "),
    ],
)
def test_a_badly_shaped_file_is_refused(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in refusal(tmp_path, text)


def test_a_file_that_cannot_be_read_is_refused_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "absent.toml"
    with pytest.raises(InvalidChannelConfig, match=re.escape(f"{missing}: cannot read the file")):
        load_channel_config(missing, {})


# --- the example file ----------------------------------------------------------------------
EXAMPLE_ENVIRON = {
    "TAMBULI_GLOBE_SMPP_PASSWORD": "dummy",
    "TAMBULI_GATEWAY_AUTH": "Bearer dummy",
    "TAMBULI_GATEWAY_CALLBACK_TOKEN": "dummy",
}


def test_the_example_file_loads_with_its_secrets_set() -> None:
    config = load_channel_config(EXAMPLE, EXAMPLE_ENVIRON, simulator_parts_per_second=2000.0)
    assert [channel.name for channel in config.channels] == [
        "globe-smpp",
        "ph-gateway",
        "simulator",
    ]
    assert [type(channel) for channel in config.channels] == [
        SmppChannelConfig,
        HttpChannelConfig,
        SimulatorChannelConfig,
    ]
    assert [route.name for route in config.routes] == ["ph-globe", "ph-other", "everywhere-else"]


def test_the_example_file_names_the_secrets_it_needs() -> None:
    for missing in EXAMPLE_ENVIRON:
        environ = {name: value for name, value in EXAMPLE_ENVIRON.items() if name != missing}
        with pytest.raises(InvalidChannelConfig, match=f"environment variable {missing} is not"):
            load_channel_config(EXAMPLE, environ)


def test_the_example_routes_resolve_as_its_comments_say() -> None:
    config = load_channel_config(EXAMPLE, EXAMPLE_ENVIRON)
    table = RouteTable(config.routes)

    def channel_for(number: str, down: frozenset[str] = frozenset()) -> str:
        choice = table.choose_channel(number, lambda name: name not in down)
        assert choice is not None
        return f"{choice.route.name}:{choice.channel}"

    assert channel_for("639171234567") == "ph-globe:globe-smpp"
    assert channel_for("639051234567", frozenset({"globe-smpp"})) == "ph-globe:ph-gateway"
    assert channel_for("639181234567") == "ph-other:ph-gateway"  # Smart
    assert channel_for("639241234567") == "ph-other:ph-gateway"  # Dito
    assert channel_for("12025550123") == "everywhere-else:simulator"
    assert channel_for("6591234567") == "everywhere-else:simulator"


def test_the_example_globe_prefixes_are_globe_numbers_per_phonenumbers() -> None:
    [globe, *_] = load_channel_config(EXAMPLE, EXAMPLE_ENVIRON).routes
    for prefix in globe.prefixes:
        number = phonenumbers.parse("+" + prefix + "1234567"[: 12 - len(prefix)])
        assert carrier.name_for_number(number, "en") == "Globe", prefix


def test_an_http_channel_takes_secret_request_fields_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "tambuli.toml"
    path.write_text(
        """
[[channels]]
name = "vonage"
kind = "http"
preset = "vonage"
url = "https://rest.nexmo.com/sms/json"
parts_per_second = 30
secret_fields_env = { api_key = "VONAGE_KEY", api_secret = "VONAGE_SECRET" }

[[routes]]
name = "all"
channels = ["vonage"]
""",
        encoding="utf-8",
    )
    environ = {"VONAGE_KEY": "key-1", "VONAGE_SECRET": "s3cret"}

    config = load_channel_config(path, environ, http_presets=PRESET_DEFAULTS)

    [channel] = config.channels
    assert isinstance(channel, HttpChannelConfig)
    assert {k: v.reveal() for k, v in channel.secret_fields.items()} == {
        "api_key": "key-1",
        "api_secret": "s3cret",
    }
    assert "s3cret" not in repr(channel)
    with pytest.raises(InvalidChannelConfig, match="VONAGE_SECRET is not set"):
        load_channel_config(path, {"VONAGE_KEY": "k"}, http_presets=PRESET_DEFAULTS)
