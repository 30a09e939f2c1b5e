"""Every setting is checked when it is read: finite, within its range, named when refused."""

from __future__ import annotations

import dataclasses

import pytest

from tambuli.settings import Settings, describe_range, load_settings

REFUSED = [
    ("TAMBULI_SIMULATOR_RECEIPT_DELAY", "nan"),
    ("TAMBULI_SIMULATOR_RECEIPT_DELAY", "-1"),
    ("TAMBULI_CLAIM_LEASE_SECONDS", "inf"),
    ("TAMBULI_CLAIM_LEASE_SECONDS", "0"),
    ("TAMBULI_DISPATCH_BATCH_SIZE", "0"),
    ("TAMBULI_CAMPAIGN_BATCH_SIZE", "0"),
    ("TAMBULI_TOPUP_BATCH_SIZE", "-5"),
    ("TAMBULI_MAX_BODY_BYTES", "0"),
    ("TAMBULI_MAX_BODY_BYTES", "-1"),
    ("TAMBULI_MAX_BODY_BYTES", "1e3"),
    ("TAMBULI_MAX_UPLOAD_BYTES", "0"),
    ("TAMBULI_WORKER_POLL_SECONDS", "0"),
    ("TAMBULI_WORKER_POLL_SECONDS", "-inf"),
    ("TAMBULI_RETRY_BASE_SECONDS", "0"),
    ("TAMBULI_RETRY_MAX_SECONDS", "nan"),
    ("TAMBULI_TOKEN_CACHE_SECONDS", "-0.5"),
    ("TAMBULI_SIMULATOR_PARTS_PER_SECOND", "NaN"),
    ("TAMBULI_TOPUP_ATTEMPT_SECONDS", "0"),
    ("TAMBULI_TOPUP_SYNC_SECONDS", "1e9"),
    ("TAMBULI_RECIPIENT_PER_MINUTE", "-1"),
    ("TAMBULI_DEMO_BALANCE_MICRO", "-1"),
    ("TAMBULI_SIMULATOR_TOPUP_DELAY", "inf"),
]


@pytest.mark.parametrize(("name", "raw"), REFUSED)
def test_a_value_out_of_range_is_refused_naming_the_variable_and_the_range(
    name: str, raw: str
) -> None:
    with pytest.raises(ValueError, match=name) as refused:
        load_settings({name: raw})
    spec = next(f for f in dataclasses.fields(Settings) if f.metadata["env"] == name)
    assert describe_range(spec.metadata) in str(refused.value)


def test_every_numeric_setting_declares_its_range() -> None:
    numeric = [f for f in dataclasses.fields(Settings) if f.type in ("int", "float")]
    assert numeric
    for spec in numeric:
        assert spec.metadata["low"] is not None, spec.name
        assert spec.metadata["high"] is not None, spec.name


def test_the_defaults_and_values_at_the_edges_of_their_ranges_are_accepted() -> None:
    assert load_settings({}) == Settings()
    settings = load_settings(
        {
            "TAMBULI_DISPATCH_BATCH_SIZE": "1",
            "TAMBULI_MAX_BODY_BYTES": "1",
            "TAMBULI_SIMULATOR_RECEIPT_DELAY": "0",
            "TAMBULI_RECIPIENT_PER_MINUTE": "0",
            "TAMBULI_CLAIM_LEASE_SECONDS": "86400",
            "TAMBULI_TOPUP_PROVIDER": "Reloadly",
        }
    )
    assert settings.dispatch_batch_size == 1
    assert settings.max_body_bytes == 1
    assert settings.claim_lease_seconds == 86400
    assert settings.topup_provider == "reloadly"


def test_a_retry_cap_below_the_first_retry_is_refused() -> None:
    with pytest.raises(ValueError, match="TAMBULI_RETRY_MAX_SECONDS"):
        load_settings({"TAMBULI_RETRY_BASE_SECONDS": "30", "TAMBULI_RETRY_MAX_SECONDS": "10"})


def test_settings_built_in_code_are_checked_too() -> None:
    with pytest.raises(ValueError, match="TAMBULI_DISPATCH_BATCH_SIZE"):
        Settings(dispatch_batch_size=0)


def test_the_log_level_is_one_of_four_words_in_any_case() -> None:
    assert Settings().log_level == "info"
    assert load_settings({"TAMBULI_LOG_LEVEL": "DEBUG"}).log_level == "debug"
    with pytest.raises(ValueError, match="TAMBULI_LOG_LEVEL"):
        load_settings({"TAMBULI_LOG_LEVEL": "verbose"})


def test_the_server_default_sender_is_tambuli_and_none_turns_it_off() -> None:
    assert load_settings({}).server_sender_id == "Tambuli"
    assert load_settings({"TAMBULI_DEFAULT_SENDER_ID": " Clinic "}).server_sender_id == "Clinic"
    assert load_settings({"TAMBULI_DEFAULT_SENDER_ID": "NONE"}).server_sender_id == ""
