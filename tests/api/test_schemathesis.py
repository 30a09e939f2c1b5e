"""Property-based contract test: schemathesis drives the live server from the API contract.

Only the operations Tambuli implements are generated. The spec's `orgId` is a free string, so
every case is pointed at the test's own organization and sent with its token. `contactId` stays
random (a 404 is a fine answer), except that half the cases are pointed at a real contact and
half the generated full phone numbers are replaced by a valid one: random numbers and IDs alone
would only ever reach the error answers. The gaps between the spec and what an API must answer
(KNOWN_SPEC_GAPS in tests/support/spec.py) are added to the spec first; nothing else is excused.
The contract carries no examples, so each operation's first requests are our own (OWN_EXAMPLES).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tambuli.organizations.models import NewOrganization
from tests.api.conftest import OrgApi
from tests.conftest import OrgFactory
from tests.support.server import RunningServer
from tests.support.spec import IMPLEMENTED_OPERATIONS, reference_spec_with_known_gaps

VALID_NUMBER = "+639171234567"

# Requests schemathesis sends first (its examples phase), before it generates any: each one can
# succeed, where generated requests mostly reach the error answers. An orgId of even length is
# pointed at the test's organization by aim_at_real_data.
OWN_EXAMPLES: dict[str, dict[str, Any]] = {
    "createContact": {
        "body": {
            "fullPhoneNumber": VALID_NUMBER,
            "firstName": "Ana",
            "lastName": "Reyes",
            "language": "Tagalog",
            "groups": [],
            "noAutodelete": True,
        }
    },
    "updateContact": {"body": {"firstName": "Ana", "lastName": "Cruz"}},
    "listContacts": {"query": {"search": "Reyes", "region": "PH"}},
    "sendSmsPhonenumber": {
        "body": {
            "orgId": 10,
            "fullPhoneNumber": VALID_NUMBER,
            "from": "Tambuli",
            "message": "Your clinic visit is on Monday at 9.",
        }
    },
    "sendSmsContact": {
        "body": {
            "orgId": 10,
            "fullPhoneNumber": VALID_NUMBER,
            "from": "Tambuli",
            "message": "Bring your health card.",
            "clientRef": "visit-reminder",
        }
    },
    "subscribeContact": {"body": {"fullPhoneNumber": VALID_NUMBER, "allowResubscribe": True}},
    "unsubscribeContact": {"body": {"fullPhoneNumber": VALID_NUMBER}},
    "sendOrgTopup": {"body": {"fullPhoneNumber": VALID_NUMBER, "maxAmount": "25", "test": True}},
    "getOrgTopupsList": {"query": {"limit": 20, "failed": "false"}},
}


def with_own_examples(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec (changed in place) with OWN_EXAMPLES as its request body and query examples."""
    for path_item in spec["paths"].values():
        for operation in path_item.values():
            example = OWN_EXAMPLES.get(operation.get("operationId"), {})
            if "body" in example:
                media = operation["requestBody"]["content"]["application/json"]
                media["example"] = example["body"]
            query = example.get("query", {})
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "query" and parameter.get("name") in query:
                    parameter["example"] = query[parameter["name"]]
    return spec


schema = schemathesis.openapi.from_dict(
    with_own_examples(reference_spec_with_known_gaps())
).include(operation_id=list(IMPLEMENTED_OPERATIONS))

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    """One HTTP session for all generated requests (schemathesis sends with requests)."""
    with requests.Session() as opened:
        yield opened


@pytest.fixture
async def funded_org(make_org: OrgFactory) -> NewOrganization:
    """An organization with money, so generated sends can get past the balance check."""
    return await make_org(balance_micro=5_000_000)


@pytest.fixture
async def contact_id(
    server: RunningServer, funded_org: NewOrganization, http: httpx.AsyncClient
) -> int:
    """A contact of the test's organization for generated cases to find (and maybe delete)."""
    return int((await OrgApi(server, funded_org, http).new_contact(firstName="Seed"))["id"])


def aim_at_real_data(case: schemathesis.Case[Any], org_id: int, contact_id: int) -> None:
    """Point a generated case at the test's organization and, for half the cases, real data."""
    path = {**(case.path_parameters or {}), "orgId": str(org_id)}
    generated_id = path.get("contactId")
    if isinstance(generated_id, str) and len(generated_id) % 2 == 0:
        path["contactId"] = str(contact_id)
    case.path_parameters = path
    body = case.body
    operation_id = case.operation.definition.raw.get("operationId")
    if operation_id in ("createContact", "sendSmsContact", "sendSmsPhonenumber") and isinstance(
        body, dict
    ):
        number = body.get("fullPhoneNumber")
        if isinstance(number, str) and len(number) % 2 == 0:
            body = {**body, "fullPhoneNumber": VALID_NUMBER}
        if operation_id != "createContact":
            # The organization of a send is in its body; half the time the right one.
            if isinstance(body.get("orgId"), (int, str)) and len(str(body["orgId"])) % 2 == 0:
                body = {**body, "orgId": org_id}
            sender = body.get("from")
            if isinstance(sender, str) and len(sender) % 2 == 0:
                body = {**body, "from": "Tambuli"}
        case.body = body


def test_schemathesis_covers_exactly_the_implemented_operations() -> None:
    found = set()
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()
        found.add(result.ok().definition.raw.get("operationId"))
    assert found == set(IMPLEMENTED_OPERATIONS)


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_server_answers_every_generated_request_as_the_spec_says(
    case: schemathesis.Case[Any],
    server: RunningServer,
    funded_org: NewOrganization,
    contact_id: int,
    session: requests.Session,
) -> None:
    assert server.base_url.startswith("http://127.0.0.1:")
    aim_at_real_data(case, funded_org.org_id, contact_id)
    case.call_and_validate(
        base_url=server.base_url,
        session=session,
        headers={"Authorization": f"Token {funded_org.token}"},
        checks=CHECKS,
        timeout=15,
    )
