"""`tambuli serve` and `tambuli worker` refuse settings out of range before they listen or work."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.server import free_port, tambuli_command

BAD_VALUES = [
    ("TAMBULI_SIMULATOR_RECEIPT_DELAY", "nan", "from 0 to 86400"),
    ("TAMBULI_CLAIM_LEASE_SECONDS", "inf", "from 1 to 86400"),
    ("TAMBULI_DISPATCH_BATCH_SIZE", "0", "from 1 to 10000"),
    ("TAMBULI_MAX_BODY_BYTES", "0", "from 1 to 1073741824"),
    ("TAMBULI_MAX_BODY_BYTES", "-1", "from 1 to 1073741824"),
]


@pytest.mark.parametrize(
    ("command", "name", "raw", "allowed"),
    [
        *(("serve", *bad) for bad in BAD_VALUES),
        ("worker", *BAD_VALUES[0]),
        ("worker", *BAD_VALUES[2]),
    ],
)
def test_a_setting_out_of_range_stops_the_process_at_start_with_exit_code_1(
    tmp_path: Path, command: str, name: str, raw: str, allowed: str
) -> None:
    database = tmp_path / "tambuli.db"
    args = ["serve", "--port", str(free_port())] if command == "serve" else ["worker"]
    env = {**os.environ, "TAMBULI_DATABASE_URL": f"sqlite:///{database}", name: raw}
    # A process that accepted the value would run until stopped: the timeout fails the test.
    finished = subprocess.run(
        tambuli_command(*args), env=env, capture_output=True, text=True, timeout=60
    )
    assert finished.returncode == 1, finished.stdout + finished.stderr
    assert name in finished.stderr
    assert allowed in finished.stderr
    assert "listening" not in finished.stdout
    assert not database.exists()
