"""Schemathesis drives the live server from Tambuli's own /openapi.json, with every check.

The reference-spec contract test (test_schemathesis.py) asks "does the server behave as
engageSPARK documents?"; this one asks "does the server behave as it says it does?". Every
operation of the served document is generated, derandomized and bounded so it stays quick.
Half the generated orgIds are replaced by a funded organization's, or every case would stop
at 404.

One setting differs from schemathesis' defaults: a 400 to a request that fits the schema is
accepted by `positive_data_acceptance` (and so is a 402). Such a 400 is always the documented
error body (the response checks still validate it); it answers rules a schema cannot state: a
phone number that is no phone number, a contact or campaign that does not exist, a blank
message, a sender ID the organization may not use (docs/decisions.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from tambuli.organizations.models import NewOrganization
from tests.conftest import OrgFactory
from tests.support.published import published_document
from tests.support.server import RunningServer

CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "400", "401", "402", "404", "409", "429"]
            },
        },
    }
)


schema = schemathesis.openapi.from_dict(published_document(), config=CONFIG)


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    """One HTTP session for all generated requests."""
    with requests.Session() as opened:
        yield opened


@pytest.fixture
async def funded_org(make_org: OrgFactory) -> NewOrganization:
    """An organization with money enough for any generated send or top-up."""
    return await make_org(balance_micro=1_000_000_000)


def aim_at_the_organization(case: schemathesis.Case[Any], org_id: int) -> None:
    """Point half the generated cases at the funded organization (in the path or the body)."""
    path = dict(case.path_parameters or {})
    generated = path.get("orgId")
    if generated is not None and len(str(generated)) % 2 == 0:
        path["orgId"] = str(org_id)
        case.path_parameters = path
    body = case.body
    if isinstance(body, dict) and "orgId" in body and len(str(body["orgId"])) % 2 == 0:
        case.body = {**body, "orgId": org_id}


def test_the_generated_cases_come_from_the_document_the_server_serves(
    server: RunningServer,
) -> None:
    served = requests.get(f"{server.base_url}/openapi.json", timeout=15).json()
    assert served == published_document()


@schema.parametrize()
@settings(
    max_examples=5,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_server_answers_as_its_own_document_says(
    case: schemathesis.Case[Any],
    server: RunningServer,
    funded_org: NewOrganization,
    session: requests.Session,
) -> None:
    assert server.base_url.startswith("http://127.0.0.1:")
    aim_at_the_organization(case, funded_org.org_id)
    case.call_and_validate(
        base_url=server.base_url,
        session=session,
        headers={"Authorization": f"Token {funded_org.token}"},
        timeout=15,
    )
