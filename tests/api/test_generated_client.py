"""A client generated from the served /openapi.json calls the balance, send and contacts routes.

openapi-python-client writes the client once per session into a temporary folder; the tests
import it under its own package name and call a real server with it.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import httpx
import pytest

from tambuli.organizations.models import NewOrganization
from tests.conftest import OrgFactory
from tests.support.server import RunningServer

PACKAGE = "tambuli_generated_client"


@pytest.fixture(scope="session")
def generated_client(
    server: RunningServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ModuleType]:
    """The client package generated from the document the server serves."""
    folder = tmp_path_factory.mktemp("generated")
    document = folder / "openapi.json"
    document.write_bytes(httpx.get(f"{server.base_url}/openapi.json").content)
    package = folder / PACKAGE
    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            "--path",
            str(document),
            "--meta",
            "none",
            "--output-path",
            str(package),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "Unable to" not in finished.stdout, finished.stdout
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(folder))
        for name in [name for name in sys.modules if name.startswith(PACKAGE)]:
            del sys.modules[name]


def _part(package: ModuleType, name: str) -> Any:
    return importlib.import_module(f"{package.__name__}.{name}")


@pytest.fixture
async def funded_org(make_org: OrgFactory) -> NewOrganization:
    """An organization with $5."""
    return await make_org(balance_micro=5_000_000)


@pytest.fixture
def client(
    generated_client: ModuleType, server: RunningServer, funded_org: NewOrganization
) -> Iterator[Any]:
    """The generated client, authenticated as the organization's owner."""
    with generated_client.AuthenticatedClient(
        base_url=server.base_url, token=funded_org.token, prefix="Token"
    ) as opened:
        yield opened


def test_the_generated_client_reads_the_balance(
    generated_client: ModuleType, client: Any, funded_org: NewOrganization
) -> None:
    get_balance = _part(generated_client, "api.balance.get_org_balance")
    balance = get_balance.sync(org_id=str(funded_org.org_id), client=client)
    assert type(balance).__name__ == "BalanceBody"
    assert balance.balance_micro == 5_000_000


def test_the_generated_client_sends_an_sms_to_a_number(
    generated_client: ModuleType, client: Any, funded_org: NewOrganization
) -> None:
    send = _part(generated_client, "api.sms.send_sms_phonenumber")
    body = _part(generated_client, "models").SendToNumberBody(
        org_id=funded_org.org_id,
        message="Hello from a generated client",
        from_="Tambuli",
        full_phone_number="639171234567",
    )
    answer = send.sync_detailed(client=client, body=body)
    assert answer.status_code == 200, answer.content
    assert type(answer.parsed).__name__ == "SentSmsBody"
    assert answer.parsed.message_id


def test_the_generated_client_creates_and_lists_contacts(
    generated_client: ModuleType, client: Any, funded_org: NewOrganization
) -> None:
    models = _part(generated_client, "models")
    create = _part(generated_client, "api.contacts.create_contact")
    listing = _part(generated_client, "api.contacts.list_contacts")
    org = str(funded_org.org_id)
    created = create.sync(
        org_id=org,
        client=client,
        body=models.CreateContactBody(first_name="Ana", full_phone_number="639171234568"),
    )
    assert type(created).__name__ == "ContactBody", created
    found = listing.sync(org_id=org, client=client, size=10)
    assert type(found).__name__ == "ContactListBody", found
    assert [contact.id for contact in found.contacts] == [created.id]


def test_the_generated_client_reads_an_error_as_the_error_body(
    generated_client: ModuleType, server: RunningServer, funded_org: NewOrganization
) -> None:
    get_balance = _part(generated_client, "api.balance.get_org_balance")
    with generated_client.AuthenticatedClient(
        base_url=server.base_url, token="not-a-token", prefix="Token"
    ) as stranger:
        answer = get_balance.sync_detailed(org_id=str(funded_org.org_id), client=stranger)
    assert answer.status_code == 401
    assert type(answer.parsed).__name__ == "Error"
    assert answer.parsed.error
