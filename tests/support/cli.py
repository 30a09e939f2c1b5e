"""Run the `tambuli` CLI of this checkout as a subprocess against a database."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

from tests.support.server import tambuli_command


def run_cli(
    database_url: str,
    *args: str,
    extra_env: dict[str, str] | None = None,
    stdin_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run one command (with stdin_text on its standard input); its exit code and output are
    the caller's to judge."""
    env = {**os.environ, "TAMBULI_DATABASE_URL": database_url, **(extra_env or {})}
    return subprocess.run(
        tambuli_command(*args),
        env=env,
        input=stdin_text,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def run_cli_json(database_url: str, *args: str, extra_env: dict[str, str] | None = None) -> Any:
    """Run one command that must succeed and print JSON; the parsed JSON."""
    result = run_cli(database_url, *args, extra_env=extra_env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
