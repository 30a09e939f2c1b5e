"""Tambuli's own OpenAPI document: every route, the reference spec's operations, real errors."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tambuli.api.app import ROUTES
from tambuli.api.openapi import camel_case
from tests.support.published import published_document
from tests.support.server import RunningServer
from tests.support.spec import reference_spec

METHODS = {"get", "post", "put", "delete", "patch"}

# Reference operations Tambuli does not serve yet; the test fails once one of them is served,
# so the list only shrinks.
KNOWN_MISSING_OPERATIONS: set[str] = set()


def _served_operations() -> set[tuple[str, str]]:
    operations: set[tuple[str, str]] = set()
    for handler in ROUTES:
        if not handler.include_in_schema:
            continue
        for path in handler.paths:
            for method in handler.http_methods:
                clean = path.replace(":str}", "}").rstrip("/")
                for name in {part[1:-1] for part in clean.split("/") if part.startswith("{")}:
                    clean = clean.replace("{" + name + "}", "{" + camel_case(name) + "}")
                operations.add((method.lower(), clean))
    return operations


def _operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


def _resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = document
        for segment in node["$ref"][2:].split("/"):
            target = target[segment]
        node = target
    return node


def _parameters(
    document: dict[str, Any], path: str, method: str
) -> dict[tuple[str, str], dict[str, Any]]:
    item = document["paths"][path]
    listed = [*item.get("parameters", []), *item[method].get("parameters", [])]
    resolved = [_resolve(document, parameter) for parameter in listed]
    return {(p["name"], p["in"]): p for p in resolved}


def test_the_openapi_document_describes_every_route_served(server: RunningServer) -> None:
    answer = httpx.get(f"{server.base_url}/openapi.json")
    assert answer.status_code == 200
    document = answer.json()
    assert document == published_document()
    assert document["openapi"].startswith("3.")
    documented = {(method, path.rstrip("/")) for method, path in _operations(document)}
    assert _served_operations() <= documented
    assert "apiToken" in document["components"]["securitySchemes"]


def test_every_reference_operation_is_published_with_the_same_path_and_parameters() -> None:
    reference = reference_spec()
    ours = published_document()
    published = _operations(ours)
    missing = set()
    for (method, path), operation in _operations(reference).items():
        operation_id = operation["operationId"]
        if (method, path) not in published:
            missing.add(operation_id)
            continue
        assert published[(method, path)]["operationId"] == operation_id
        expected = _parameters(reference, path, method)
        actual = _parameters(ours, path, method)
        assert set(actual) == set(expected), f"{operation_id}: parameters differ"
        for key, parameter in expected.items():
            found = actual[key]
            assert found.get("required", False) == parameter.get("required", False), (
                f"{operation_id}: {key} required differs"
            )
            expected_type = parameter.get("schema", {}).get("type")
            if expected_type != "string":
                # A string in the reference may stand for any value; other types must match.
                types = {choice.get("type") for choice in found["schema"].get("oneOf", [])}
                types.add(found["schema"].get("type"))
                assert expected_type in types, f"{operation_id}: {key}"
    assert missing == KNOWN_MISSING_OPERATIONS


def test_every_operation_documents_its_errors_with_the_error_body() -> None:
    document = published_document()
    assert document["components"]["schemas"]["Error"]["required"] == ["error"]
    for (method, path), operation in _operations(document).items():
        responses = operation["responses"]
        assert {"400", "401", "429", "503"} <= set(responses), (method, path)
        if "{orgId}" in path:
            assert "404" in responses, (method, path)
        if "requestBody" in operation:
            assert "413" in responses, (method, path)
        for status, response in responses.items():
            schema = response.get("content", {}).get("application/json", {}).get("schema", {})
            assert "status_code" not in str(schema), (method, path, status)
            if status not in {"409"} and status.startswith("4"):
                assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)


@pytest.mark.parametrize(
    ("operation_id", "statuses"),
    [
        ("sendSmsPhonenumber", {"200", "400", "401", "402", "409", "413", "429", "503"}),
        ("sendOrgTopup", {"200", "202", "400", "401", "402", "404", "409", "413"}),
        ("getContact", {"200", "400", "401", "404"}),
    ],
)
def test_operations_document_the_statuses_they_answer(
    operation_id: str, statuses: set[str]
) -> None:
    found = next(
        op for op in _operations(published_document()).values() if op["operationId"] == operation_id
    )
    assert statuses <= set(found["responses"])


def test_list_counts_are_documented_as_the_integers_the_routes_accept() -> None:
    parameters = _parameters(published_document(), "/v1/organizations/{orgId}/messages/", "get")
    assert parameters[("limit", "query")]["schema"]["type"] == "integer"
    assert parameters[("limit", "query")]["schema"]["minimum"] == 0


def test_request_bodies_are_documented_from_the_structs_that_validate_them() -> None:
    document = published_document()
    create = document["paths"]["/v1/organizations/{orgId}/contacts/"]["post"]
    schema_ref = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = document["components"]["schemas"][schema_ref.rsplit("/", 1)[-1]]
    assert {"fullPhoneNumber", "phoneNumber", "phoneNumberCountry", "customFieldsByName"} <= set(
        schema["properties"]
    )


def test_an_error_answer_fits_the_documented_error_body(server: RunningServer) -> None:
    answer = httpx.get(
        f"{server.base_url}/v1/organizations/1/balance.json",
        headers={"Authorization": "Token nobody"},
    )
    assert answer.status_code == 401
    assert set(answer.json()) <= {"error", "errorCode", "context"}


def test_options_lists_every_method_of_a_path(server: RunningServer) -> None:
    answer = httpx.options(f"{server.base_url}/v1/organizations/1/groups")
    assert answer.status_code == 204
    assert answer.headers["allow"] == "GET, OPTIONS, POST"


def test_the_docs_page_is_served_with_its_own_redoc(server: RunningServer) -> None:
    answer = httpx.get(f"{server.base_url}/docs")
    assert answer.status_code == 200
    assert "text/html" in answer.headers["content-type"]
    assert "/docs/static/redoc.standalone.js" in answer.text
    assert "://" not in answer.text
    bundle = httpx.get(f"{server.base_url}/docs/static/redoc.standalone.js")
    assert bundle.status_code == 200
    assert "javascript" in bundle.headers["content-type"]
    assert httpx.get(f"{server.base_url}/docs/openapi.json").json() == published_document()


def test_request_bodies_are_documented_as_open_since_unknown_fields_are_ignored() -> None:
    schemas = published_document()["components"]["schemas"]
    for name in ("SendToNumberBody", "CreateContactBody", "SendTopupBody", "StepInput"):
        assert schemas[name].get("additionalProperties", True) is not False, name


def test_the_contact_import_documents_the_file_it_reads() -> None:
    operation = published_document()["paths"]["/v1/organizations/{orgId}/contacts/import"]["post"]
    assert set(operation["requestBody"]["content"]) == {"multipart/form-data", "text/csv"}
    assert "413" in operation["responses"]
