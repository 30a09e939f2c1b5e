"""Tambuli's own OpenAPI document and docs page."""

from __future__ import annotations

import httpx

from tambuli.api.app import ROUTES
from tests.support.server import RunningServer


def _served_operations() -> set[tuple[str, str]]:
    operations: set[tuple[str, str]] = set()
    for handler in ROUTES:
        if not handler.include_in_schema:
            continue
        for path in handler.paths:
            for method in handler.http_methods:
                clean = path.replace(":str}", "}").rstrip("/")
                operations.add((method.lower(), clean))
    return operations


def test_the_openapi_document_describes_every_route_served(server: RunningServer) -> None:
    answer = httpx.get(f"{server.base_url}/openapi.json")
    assert answer.status_code == 200
    document = answer.json()
    assert document["openapi"].startswith("3.")
    documented = {
        (method, path.rstrip("/"))
        for path, item in document["paths"].items()
        for method in item
        if method in {"get", "post", "put", "delete", "patch"}
    }
    assert _served_operations() <= documented
    assert "apiToken" in document["components"]["securitySchemes"]


def test_request_bodies_are_documented_from_the_structs_that_validate_them(
    server: RunningServer,
) -> None:
    document = httpx.get(f"{server.base_url}/openapi.json").json()
    create = document["paths"]["/v1/organizations/{org_id}/contacts"]["post"]
    schema_ref = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = document["components"]["schemas"][schema_ref.rsplit("/", 1)[-1]]
    assert {"fullPhoneNumber", "phoneNumber", "phoneNumberCountry", "customFieldsByName"} <= set(
        schema["properties"]
    )


def test_the_docs_page_is_served(server: RunningServer) -> None:
    answer = httpx.get(f"{server.base_url}/docs")
    assert answer.status_code == 200
    assert "text/html" in answer.headers["content-type"]
