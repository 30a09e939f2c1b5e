"""Write the engageSPARK API contract the tests check from the reference OpenAPI document.

The contract (contract/engagespark-openapi.json) is the reference with its prose and examples
taken out: paths, methods, operationIds, parameters, request bodies, response statuses, schemas
and security stay, so the suite runs from a clone alone. Usage:

    contract_tool.py write [REFERENCE]   rewrite the contract from the reference
    contract_tool.py check [REFERENCE]   exit 1 if the contract differs from what write gives

REFERENCE defaults to TAMBULI_REFERENCE_SPEC, else ../shared/reference/engagespark-openapi.yml
beside the checkout. The output is deterministic (sorted keys), so rewriting it changes nothing.
"""

from __future__ import annotations

import difflib
import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
CONTRACT_PATH = REPO / "contract" / "engagespark-openapi.json"
REFERENCE_ENV = "TAMBULI_REFERENCE_SPEC"

# Annotations for readers; JSON Schema validation and request generation ignore them.
PROSE_KEYS = frozenset(
    {"description", "summary", "title", "example", "examples", "$comment", "externalDocs", "tags"}
)
# Schema keywords whose value is one subschema, a list of them, or a map of name -> subschema.
SUBSCHEMA_KEYS = frozenset(
    {
        "items",
        "additionalProperties",
        "not",
        "if",
        "then",
        "else",
        "contains",
        "propertyNames",
        "unevaluatedItems",
        "unevaluatedProperties",
        "additionalItems",
        "contentSchema",
    }
)
SUBSCHEMA_LIST_KEYS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
SUBSCHEMA_MAP_KEYS = frozenset(
    {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}
)
METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


def default_reference_path() -> Path:
    """Where the reference is looked for: TAMBULI_REFERENCE_SPEC, else ../shared/reference/."""
    override = os.environ.get(REFERENCE_ENV)
    if override:
        return Path(override)
    return REPO.parent / "shared" / "reference" / "engagespark-openapi.yml"


def read_reference(path: Path) -> dict[str, Any]:
    """The reference OpenAPI document parsed from YAML."""
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(loaded, dict):
        raise SystemExit(f"{path} is not an OpenAPI document")
    return loaded


def _is_prose(key: str) -> bool:
    return key in PROSE_KEYS or key.startswith("x-")


def _strip_schema(schema: Any) -> Any:
    """A JSON Schema without annotations; values such as enum, const and default stay as is."""
    if not isinstance(schema, dict):
        return schema  # a boolean schema
    stripped: dict[str, Any] = {}
    for key, value in schema.items():
        if _is_prose(key):
            continue
        if key in SUBSCHEMA_KEYS:
            stripped[key] = _strip_schema(value)
        elif key in SUBSCHEMA_LIST_KEYS:
            stripped[key] = [_strip_schema(item) for item in value]
        elif key in SUBSCHEMA_MAP_KEYS:
            stripped[key] = {name: _strip_schema(item) for name, item in value.items()}
        else:
            stripped[key] = value
    return stripped


def _strip_map(node: dict[str, Any], strip_one: Any) -> dict[str, Any]:
    return {str(name): strip_one(value) for name, value in node.items()}


def _strip_media_type(media: dict[str, Any]) -> dict[str, Any]:
    stripped = {k: v for k, v in media.items() if not _is_prose(k)}
    if "schema" in stripped:
        stripped["schema"] = _strip_schema(stripped["schema"])
    if "encoding" in stripped:
        stripped["encoding"] = _strip_map(stripped["encoding"], _strip_encoding)
    return stripped


def _strip_encoding(encoding: dict[str, Any]) -> dict[str, Any]:
    stripped = {k: v for k, v in encoding.items() if not _is_prose(k)}
    if "headers" in stripped:
        stripped["headers"] = _strip_map(stripped["headers"], _strip_parameter)
    return stripped


def _strip_parameter(parameter: dict[str, Any]) -> dict[str, Any]:
    """A parameter or header object (or a $ref to one) without prose and examples."""
    stripped = {k: v for k, v in parameter.items() if not _is_prose(k)}
    if "schema" in stripped:
        stripped["schema"] = _strip_schema(stripped["schema"])
    if "content" in stripped:
        stripped["content"] = _strip_map(stripped["content"], _strip_media_type)
    return stripped


def _strip_request_body(body: dict[str, Any]) -> dict[str, Any]:
    stripped = {k: v for k, v in body.items() if not _is_prose(k)}
    if "content" in stripped:
        stripped["content"] = _strip_map(stripped["content"], _strip_media_type)
    return stripped


def _strip_response(response: dict[str, Any]) -> dict[str, Any]:
    """A response without prose; `description` is required by OpenAPI, so it stays, empty."""
    if "$ref" in response:
        return {"$ref": response["$ref"]}
    stripped = {k: v for k, v in response.items() if not _is_prose(k) and k != "links"}
    stripped["description"] = ""
    if "headers" in stripped:
        stripped["headers"] = _strip_map(stripped["headers"], _strip_parameter)
    if "content" in stripped:
        stripped["content"] = _strip_map(stripped["content"], _strip_media_type)
    return stripped


def _strip_operation(operation: dict[str, Any]) -> dict[str, Any]:
    stripped = {k: v for k, v in operation.items() if not _is_prose(k) and k != "servers"}
    if "parameters" in stripped:
        stripped["parameters"] = [_strip_parameter(p) for p in stripped["parameters"]]
    if "requestBody" in stripped:
        stripped["requestBody"] = _strip_request_body(stripped["requestBody"])
    if "responses" in stripped:
        stripped["responses"] = _strip_map(stripped["responses"], _strip_response)
    if "callbacks" in stripped:
        stripped["callbacks"] = _strip_map(
            stripped["callbacks"], lambda callback: _strip_map(callback, _strip_path_item)
        )
    return stripped


def _strip_path_item(item: dict[str, Any]) -> dict[str, Any]:
    stripped: dict[str, Any] = {}
    for key, value in item.items():
        if key in METHODS:
            stripped[key] = _strip_operation(value)
        elif key == "parameters":
            stripped[key] = [_strip_parameter(p) for p in value]
        elif key == "$ref":
            stripped[key] = value
    return stripped


def _strip_components(components: dict[str, Any]) -> dict[str, Any]:
    strip_kind = {
        "schemas": _strip_schema,
        "parameters": _strip_parameter,
        "headers": _strip_parameter,
        "requestBodies": _strip_request_body,
        "responses": _strip_response,
        "pathItems": _strip_path_item,
        "securitySchemes": lambda scheme: {k: v for k, v in scheme.items() if not _is_prose(k)},
    }
    return {
        kind: _strip_map(entries, strip_kind[kind])
        for kind, entries in components.items()
        if kind in strip_kind
    }


def build_contract(reference: dict[str, Any]) -> dict[str, Any]:
    """The reference's facts without its prose, examples, servers and extensions."""
    contract: dict[str, Any] = {
        "openapi": reference["openapi"],
        "info": {"title": reference["info"]["title"], "version": reference["info"]["version"]},
        "paths": _strip_map(reference.get("paths", {}), _strip_path_item),
    }
    for key in ("jsonSchemaDialect", "security"):
        if key in reference:
            contract[key] = reference[key]
    if "webhooks" in reference:
        contract["webhooks"] = _strip_map(reference["webhooks"], _strip_path_item)
    if "components" in reference:
        contract["components"] = _strip_components(reference["components"])
    return contract


def render_contract(contract: dict[str, Any]) -> str:
    """The contract as the file holds it: JSON with sorted keys, two-space indents."""
    return json.dumps(contract, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _main(argv: list[str]) -> int:
    if len(argv) not in (1, 2) or argv[0] not in ("write", "check"):
        print(__doc__, file=sys.stderr)
        return 2
    reference = Path(argv[1]) if len(argv) == 2 else default_reference_path()
    if not reference.is_file():
        print(f"reference spec not found at {reference}; pass its path", file=sys.stderr)
        return 2
    text = render_contract(build_contract(read_reference(reference)))
    current = CONTRACT_PATH.read_text(encoding="utf-8") if CONTRACT_PATH.is_file() else ""
    if argv[0] == "check":
        if current == text:
            print(f"{CONTRACT_PATH.relative_to(REPO)} matches {reference}")
            return 0
        sys.stdout.writelines(
            difflib.unified_diff(
                current.splitlines(keepends=True),
                text.splitlines(keepends=True),
                "contract (in the repository)",
                "contract (from the reference)",
            )
        )
        print("the contract is out of date; run ./scripts/update-contract", file=sys.stderr)
        return 1
    CONTRACT_PATH.parent.mkdir(exist_ok=True)
    CONTRACT_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {CONTRACT_PATH.relative_to(REPO)} from {reference}")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
