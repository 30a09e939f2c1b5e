"""Schemathesis drives the live server from Tambuli's own /openapi.json, with every check.

The reference-spec contract test (test_schemathesis.py) asks "does the server behave as
engageSPARK documents?"; this one asks "does the server behave as it says it does?". It runs
the schemathesis command line as a user would (`st run URL --checks all`): every phase
(examples, coverage, fuzzing, stateful), deterministic and bounded, as a funded organization
with every orgId pointed at it, or every case would stop at 404.

One setting differs from schemathesis' defaults: a 400 to a request that fits the schema is
accepted by `positive_data_acceptance` (and so is a 402). Such a 400 is always the documented
error body (the response checks still validate it); it answers rules a schema cannot state: a
phone number that is no phone number, a contact or campaign that does not exist, a blank
message, a sender ID the organization may not use (docs/decisions.md).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tambuli.organizations.models import NewOrganization
from tests.conftest import OrgFactory
from tests.support.published import published_document
from tests.support.server import RunningServer

CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "400", "401", "402", "404", "409", "429"]

[parameters]
"path.orgId" = "{org_id}"
"""


def schemathesis_command() -> str:
    """The `st` command of this environment."""
    beside = Path(sys.executable).parent / "st"
    found = str(beside) if beside.exists() else shutil.which("st")
    assert found is not None, "schemathesis is not installed"
    return found


@pytest.fixture
async def funded_org(make_org: OrgFactory) -> NewOrganization:
    """An organization with money enough for any generated send or top-up."""
    return await make_org(balance_micro=1_000_000_000)


def test_the_generated_cases_come_from_the_document_the_server_serves(
    server: RunningServer,
) -> None:
    served = httpx.get(f"{server.base_url}/openapi.json", timeout=15).json()
    assert served == published_document()


def test_the_server_answers_as_its_own_document_says(
    server: RunningServer, funded_org: NewOrganization, tmp_path: Path
) -> None:
    assert server.base_url.startswith("http://127.0.0.1:")
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG.replace("{org_id}", str(funded_org.org_id)))
    finished = subprocess.run(
        [
            schemathesis_command(),
            "--config-file",
            str(config),
            "run",
            f"{server.base_url}/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            "10",
            "--generation-deterministic",
            "--header",
            f"Authorization: Token {funded_org.token}",
            "--request-timeout",
            "15",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=tmp_path,
    )
    report = finished.stdout + finished.stderr
    assert finished.returncode == 0, report
    operations = sum(
        1
        for item in published_document()["paths"].values()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    )
    assert f"Tested: {operations}" in report, report
