"""The API contract in the repository: what scripts/contract_tool.py keeps of the reference.

The tests read contract/engagespark-openapi.json, never the reference itself; the one test that
needs the reference (is the contract still what the reference gives?) is skipped without it.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.support.spec import CONTRACT_PATH, IMPLEMENTED_OPERATIONS, reference_spec

TOOL_PATH = Path(__file__).resolve().parents[2] / "scripts" / "contract_tool.py"


def load_tool() -> ModuleType:
    """scripts/contract_tool.py as a module (scripts/ is not a package)."""
    found = importlib.util.spec_from_file_location("contract_tool", TOOL_PATH)
    assert found is not None and found.loader is not None
    module = importlib.util.module_from_spec(found)
    found.loader.exec_module(module)
    return module


tool = load_tool()

# A small reference with prose, examples and extensions wherever OpenAPI allows them, and
# properties whose names are also annotation keywords.
REFERENCE: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "API", "version": "1.0.0", "description": "Words.", "license": {"name": "x"}},
    "servers": [{"url": "https://api.example.com"}],
    "security": [{"apiToken": []}],
    "tags": [{"name": "Things", "description": "Words."}],
    "x-logo": "logo.png",
    "paths": {
        "/things/{thingId}": {
            "summary": "Words.",
            "parameters": [{"$ref": "#/components/parameters/thing", "description": "Words."}],
            "post": {
                "operationId": "makeThing",
                "summary": "Words.",
                "description": "Words.",
                "tags": ["Things"],
                "x-internal": True,
                "parameters": [
                    {
                        "name": "dryRun",
                        "in": "query",
                        "required": False,
                        "description": "Words.",
                        "example": True,
                        "schema": {"type": "boolean", "default": False, "title": "Dry run"},
                    }
                ],
                "requestBody": {
                    "required": True,
                    "description": "Words.",
                    "content": {
                        "application/json": {
                            "example": {"title": "A thing"},
                            "schema": {"$ref": "#/components/schemas/thing"},
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "Words.",
                        "content": {
                            "application/json": {
                                "examples": {"one": {"value": {"title": "A thing"}}},
                                "schema": {"$ref": "#/components/schemas/thing"},
                            }
                        },
                    },
                    "400": {"$ref": "#/components/responses/error", "description": "Words."},
                },
            },
        }
    },
    "components": {
        "securitySchemes": {
            "apiToken": {"type": "http", "scheme": "token", "description": "Words."}
        },
        "parameters": {
            "thing": {
                "name": "thingId",
                "in": "path",
                "required": True,
                "description": "Words.",
                "schema": {"type": "string", "pattern": "^[0-9]+$"},
            }
        },
        "responses": {
            "error": {
                "description": "Words.",
                "content": {"application/json": {"schema": {"type": "object"}}},
            }
        },
        "schemas": {
            "thing": {
                "type": "object",
                "description": "Words.",
                "required": ["title"],
                "additionalProperties": False,
                "properties": {
                    "title": {"type": "string", "description": "Words.", "example": "A thing"},
                    "description": {"type": ["string", "null"], "maxLength": 160},
                    "kind": {
                        "type": "string",
                        "enum": ["big", "small"],
                        "default": "small",
                        "x-order": 3,
                    },
                    "size": {
                        "oneOf": [
                            {"type": "integer", "minimum": 1, "description": "Words."},
                            {"$ref": "#/components/schemas/size"},
                        ]
                    },
                    "tags": {"type": "array", "items": {"type": "string", "examples": ["a"]}},
                },
            },
            "size": {"type": "string", "format": "int64", "$comment": "Words."},
        },
    },
}

CONTRACT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "API", "version": "1.0.0"},
    "security": [{"apiToken": []}],
    "paths": {
        "/things/{thingId}": {
            "parameters": [{"$ref": "#/components/parameters/thing"}],
            "post": {
                "operationId": "makeThing",
                "parameters": [
                    {
                        "name": "dryRun",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "boolean", "default": False},
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/thing"}}
                    },
                },
                "responses": {
                    "200": {
                        "description": "",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/thing"}}
                        },
                    },
                    "400": {"$ref": "#/components/responses/error"},
                },
            },
        }
    },
    "components": {
        "securitySchemes": {"apiToken": {"type": "http", "scheme": "token"}},
        "parameters": {
            "thing": {
                "name": "thingId",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "pattern": "^[0-9]+$"},
            }
        },
        "responses": {
            "error": {
                "description": "",
                "content": {"application/json": {"schema": {"type": "object"}}},
            }
        },
        "schemas": {
            "thing": {
                "type": "object",
                "required": ["title"],
                "additionalProperties": False,
                "properties": {
                    "title": {"type": "string"},
                    "description": {"type": ["string", "null"], "maxLength": 160},
                    "kind": {"type": "string", "enum": ["big", "small"], "default": "small"},
                    "size": {
                        "oneOf": [
                            {"type": "integer", "minimum": 1},
                            {"$ref": "#/components/schemas/size"},
                        ]
                    },
                    "tags": {"type": "array", "items": {"type": "string"}},
                },
            },
            "size": {"type": "string", "format": "int64"},
        },
    },
}


def test_the_contract_file_is_what_the_reference_gives_today() -> None:
    reference = tool.default_reference_path()
    if not reference.is_file():
        pytest.skip(f"the engageSPARK reference is not at {reference} (TAMBULI_REFERENCE_SPEC)")
    expected = tool.render_contract(tool.build_contract(tool.read_reference(reference)))
    assert CONTRACT_PATH.read_text(encoding="utf-8") == expected, (
        "the contract is out of date; run ./scripts/update-contract"
    )


def test_prose_examples_servers_and_extensions_are_left_out_and_every_rule_kept() -> None:
    assert tool.build_contract(REFERENCE) == CONTRACT


def test_the_contract_file_holds_no_prose_or_examples() -> None:
    assert tool.build_contract(reference_spec()) == reference_spec()


def test_the_contract_file_is_written_with_sorted_keys_and_a_final_newline() -> None:
    text = CONTRACT_PATH.read_text(encoding="utf-8")
    assert text == tool.render_contract(json.loads(text))


def test_the_same_reference_in_another_key_order_gives_the_same_text() -> None:
    shuffled = json.loads(json.dumps(REFERENCE), object_pairs_hook=lambda p: dict(reversed(p)))
    assert list(shuffled) == list(reversed(REFERENCE))
    assert tool.render_contract(tool.build_contract(shuffled)) == tool.render_contract(CONTRACT)


def test_the_contract_has_every_operation_tambuli_implements() -> None:
    found = {
        operation["operationId"]: (method.upper(), path)
        for path, item in reference_spec()["paths"].items()
        for method, operation in item.items()
        if method != "parameters"
    }
    assert {name: found.get(name) for name in IMPLEMENTED_OPERATIONS} == IMPLEMENTED_OPERATIONS


def test_check_fails_with_a_diff_when_the_reference_says_otherwise(tmp_path: Path) -> None:
    changed = json.loads(CONTRACT_PATH.read_text(encoding="utf-8"))
    changed["info"]["version"] = "9.9.9"
    reference = tmp_path / "reference.yml"
    reference.write_text(json.dumps(changed), encoding="utf-8")  # JSON is YAML too
    done = subprocess.run(
        [sys.executable, str(TOOL_PATH), "check", str(reference)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done
    assert '+    "version": "9.9.9"' in done.stdout
    assert "run ./scripts/update-contract" in done.stderr


def test_check_passes_on_a_reference_that_gives_the_contract(tmp_path: Path) -> None:
    reference = tmp_path / "reference.yml"
    reference.write_text(CONTRACT_PATH.read_text(encoding="utf-8"), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(TOOL_PATH), "check", str(reference)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done


def test_a_missing_reference_is_named_and_nothing_is_written(tmp_path: Path) -> None:
    before = CONTRACT_PATH.read_bytes()
    missing = tmp_path / "nowhere.yml"
    done = subprocess.run(
        [sys.executable, str(TOOL_PATH), "write", str(missing)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert f"reference spec not found at {missing}" in done.stderr
    assert CONTRACT_PATH.read_bytes() == before
