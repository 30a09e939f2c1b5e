"""HTTP clients for the API tests: every answer of a spec operation is checked against the spec."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tambuli.organizations.models import NewOrganization
from tests.conftest import OrgFactory
from tests.support.server import RunningServer
from tests.support.spec import (
    BALANCE_PATH,
    CONTACT_PATH,
    CONTACTS_PATH,
    assert_matches_spec,
)

# RFC 3339 in UTC with microseconds and a "Z", as engageSPARK writes times.
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


def auth_header(token: str) -> dict[str, str]:
    """The Authorization header engageSPARK documents."""
    return {"Authorization": f"Token {token}"}


def check_against_spec(response: httpx.Response, method: str, path_template: str) -> httpx.Response:
    """Validate a response of a spec operation (status documented, body fits) and return it."""
    assert not response.is_redirect, f"unexpected redirect to {response.headers.get('location')}"
    assert response.headers["content-type"].startswith("application/json"), response.headers
    assert_matches_spec(method, path_template, response.status_code, response.json())
    return response


class OrgApi:
    """One organization's API, as its owner calls it; spec operations are always validated."""

    def __init__(self, server: RunningServer, org: NewOrganization, client: httpx.AsyncClient):
        self.server = server
        self.org = org
        self.org_id = org.org_id
        self.client = client
        self.base = f"/v1/organizations/{org.org_id}"

    async def call(
        self,
        method: str,
        path: str,
        template: str | None,
        *,
        headers: dict[str, str] | None = None,
        authorized: bool = True,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send a request to a path under the server; check it against `template` if given."""
        sent_headers = dict(auth_header(self.org.token)) if authorized else {}
        sent_headers.update(headers or {})
        response = await self.client.request(method, path, headers=sent_headers, **kwargs)
        if template is not None:
            check_against_spec(response, method, template)
        return response

    async def balance(self, **kwargs: Any) -> httpx.Response:
        """GET …/balance.json"""
        return await self.call("GET", f"{self.base}/balance.json", BALANCE_PATH, **kwargs)

    async def list_contacts(self, params: dict[str, Any] | None = None) -> httpx.Response:
        """GET …/contacts/ with query parameters."""
        return await self.call("GET", f"{self.base}/contacts/", CONTACTS_PATH, params=params)

    async def create_contact(self, body: Any, **kwargs: Any) -> httpx.Response:
        """POST …/contacts/ with a JSON body."""
        return await self.call("POST", f"{self.base}/contacts/", CONTACTS_PATH, json=body, **kwargs)

    async def get_contact(self, contact_id: int | str, **kwargs: Any) -> httpx.Response:
        """GET …/contacts/{id}/"""
        return await self.call("GET", f"{self.base}/contacts/{contact_id}/", CONTACT_PATH, **kwargs)

    async def update_contact(self, contact_id: int | str, body: Any) -> httpx.Response:
        """PUT …/contacts/{id}/ with a JSON body."""
        return await self.call(
            "PUT", f"{self.base}/contacts/{contact_id}/", CONTACT_PATH, json=body
        )

    async def delete_contact(self, contact_id: int | str) -> httpx.Response:
        """DELETE …/contacts/{id}/"""
        return await self.call("DELETE", f"{self.base}/contacts/{contact_id}/", CONTACT_PATH)

    async def new_contact(self, **body: Any) -> dict[str, Any]:
        """Create a contact that must succeed; returns its JSON."""
        body.setdefault("fullPhoneNumber", "639171234567")
        response = await self.create_contact(body)
        assert response.status_code == 200, response.text
        created: dict[str, Any] = response.json()
        return created

    async def contact_count(self) -> int:
        """How many contacts the organization has (orgTotal)."""
        response = await self.list_contacts({"size": 1})
        assert response.status_code == 200, response.text
        return int(response.json()["orgTotal"])

    async def new_group(self, name: str) -> int:
        """Create a group that must succeed; returns its ID."""
        response = await self.call("POST", f"{self.base}/groups/", None, json={"name": name})
        assert response.status_code == 200, response.text
        return int(response.json()["id"])

    async def new_custom_field(self, name: str) -> int:
        """Create (or find, by name) a custom field; returns its ID."""
        response = await self.call("POST", f"{self.base}/customfields/", None, json={"name": name})
        assert response.status_code == 200, response.text
        return int(response.json()["id"])


@pytest.fixture
async def http(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the test server that never follows redirects."""
    async with httpx.AsyncClient(
        base_url=server.base_url, timeout=15.0, follow_redirects=False
    ) as client:
        yield client


@pytest.fixture
async def org(make_org: OrgFactory) -> NewOrganization:
    """A new organization of the test's own, with no money."""
    return await make_org()


@pytest.fixture
def api(server: RunningServer, org: NewOrganization, http: httpx.AsyncClient) -> OrgApi:
    """The API of the test's organization, called by its owner."""
    return OrgApi(server, org, http)
