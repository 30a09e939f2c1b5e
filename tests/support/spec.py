"""The engageSPARK API contract, and checking response bodies against it.

The contract is contract/engagespark-openapi.json in the repository: the engageSPARK reference
OpenAPI document without its prose and examples, written by ./scripts/update-contract
(tests/unit/test_contract_tool.py checks it still matches the reference wherever that is at
hand). OpenAPI 3.1 schemas are JSON Schema 2020-12, so bodies are validated with jsonschema over
a registry holding the whole document, which resolves `#/components/...` references.
"""

from __future__ import annotations

import copy
import json
import re
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

CONTRACT_PATH = Path(__file__).resolve().parents[2] / "contract" / "engagespark-openapi.json"
SPEC_URI = "urn:engagespark:openapi"

BALANCE_PATH = "/v1/organizations/{orgId}/balance.json"
CONTACTS_PATH = "/v1/organizations/{orgId}/contacts/"
CONTACT_PATH = "/v1/organizations/{orgId}/contacts/{contactId}/"
SMS_CONTACT_PATH = "/v1/sms/contact"
SMS_NUMBER_PATH = "/v1/sms/phonenumber"
MESSAGES_PATH = "/v1/organizations/{orgId}/messages/"
MESSAGE_PATH = "/v1/organizations/{orgId}/messages/{messageId}/"
SUBSCRIBE_PATH = "/v1/organizations/{orgId}/engagements/{campaignId}/subscribe"
UNSUBSCRIBE_PATH = "/v1/organizations/{orgId}/engagements/{campaignId}/unsubscribe"
TOPUP_PATH = "/v1/organizations/{orgId}/topup/"
TOPUPS_PATH = "/v1/organizations/{orgId}/topups/"
ONE_TOPUP_PATH = "/v1/organizations/{orgId}/topups/{topupId}/"
FILES_PATH = "/v1/organizations/{orgId}/files/"
FILE_PATH = "/v1/organizations/{orgId}/files/{filename}"
WHATSAPP_CONTACT_PATH = "/v1/whatsapp/contact"
WHATSAPP_LIST_PATH = "/v1/organizations/{orgId}/whatsapp/"
WHATSAPP_ONE_PATH = "/v1/organizations/{orgId}/whatsapp/{messageId}/"

# The operations Tambuli implements today, by the spec's operationId.
IMPLEMENTED_OPERATIONS: dict[str, tuple[str, str]] = {
    "getOrgBalance": ("GET", BALANCE_PATH),
    "listContacts": ("GET", CONTACTS_PATH),
    "createContact": ("POST", CONTACTS_PATH),
    "getContact": ("GET", CONTACT_PATH),
    "updateContact": ("PUT", CONTACT_PATH),
    "deleteContact": ("DELETE", CONTACT_PATH),
    "sendSmsContact": ("POST", SMS_CONTACT_PATH),
    "sendSmsPhonenumber": ("POST", SMS_NUMBER_PATH),
    "getSmsList": ("GET", MESSAGES_PATH),
    "getSms": ("GET", MESSAGE_PATH),
    "subscribeContact": ("POST", SUBSCRIBE_PATH),
    "unsubscribeContact": ("POST", UNSUBSCRIBE_PATH),
    "sendOrgTopup": ("POST", TOPUP_PATH),
    "getOrgTopupsList": ("GET", TOPUPS_PATH),
    "getOrgTopups": ("GET", ONE_TOPUP_PATH),
    "getFileList": ("GET", FILES_PATH),
    "uploadFile": ("POST", FILES_PATH),
    "downloadFile": ("GET", FILE_PATH),
    "updateFile": ("POST", FILE_PATH),
    "deleteFile": ("DELETE", FILE_PATH),
    "sendWhatsAppContact": ("POST", WHATSAPP_CONTACT_PATH),
    "getWhatsAppList": ("GET", WHATSAPP_LIST_PATH),
    "getWhatsApp": ("GET", WHATSAPP_ONE_PATH),
}

# Responses the spec describes in words only ("all the response fields are the same as the
# 200 response"): their bodies are checked against the schema the words name.
BODY_SCHEMAS_FROM_PROSE: dict[tuple[str, str, int], str] = {
    ("POST", SMS_CONTACT_PATH, 409): "schema_sms",
    ("POST", SMS_NUMBER_PATH, 409): "schema_sms",
}

# Statuses the spec leaves out for an operation although the operation plainly has them. Each
# maps to the `#/components/responses` entry whose body shape applies, and says why. Anything
# not listed here and not in the spec is a test failure.
_NOT_FOUND_ORG = "a syntactically impossible orgId (not digits) with a valid token is 404"
_TOO_LARGE = "bodies over the size cap are 413; the spec documents no size limit at all"
KNOWN_SPEC_GAPS: dict[tuple[str, str, int], tuple[str, str]] = {
    ("GET", BALANCE_PATH, 404): ("error_404", _NOT_FOUND_ORG),
    ("GET", CONTACTS_PATH, 404): ("error_404", _NOT_FOUND_ORG),
    ("POST", CONTACTS_PATH, 404): ("error_404", _NOT_FOUND_ORG),
    ("POST", CONTACTS_PATH, 413): ("error_400", _TOO_LARGE),
    ("GET", CONTACT_PATH, 400): (
        "error_400",
        "a wrongly typed query parameter is 400, and so is subscriptionstatus naming no"
        " campaign of the organization; getContact documents no 400",
    ),
    ("PUT", CONTACT_PATH, 404): (
        "error_404",
        "updating a contact that does not exist is 404 like get and delete; updateContact"
        " documents no 404",
    ),
    ("PUT", CONTACT_PATH, 413): ("error_400", _TOO_LARGE),
    ("POST", SMS_CONTACT_PATH, 413): ("error_400", _TOO_LARGE),
    ("POST", SMS_NUMBER_PATH, 413): ("error_400", _TOO_LARGE),
    ("GET", MESSAGES_PATH, 404): ("error_404", _NOT_FOUND_ORG),
    ("POST", SUBSCRIBE_PATH, 404): ("error_404", _NOT_FOUND_ORG),
    ("POST", SUBSCRIBE_PATH, 413): ("error_400", _TOO_LARGE),
    ("POST", UNSUBSCRIBE_PATH, 404): ("error_404", _NOT_FOUND_ORG),
    ("POST", UNSUBSCRIBE_PATH, 413): ("error_400", _TOO_LARGE),
    ("POST", TOPUP_PATH, 402): (
        "error_402",
        "a balance that does not cover the price is 402 as on SMS; sendOrgTopup omits it",
    ),
    ("POST", TOPUP_PATH, 404): ("error_404", _NOT_FOUND_ORG),
    ("POST", TOPUP_PATH, 409): (
        "error_400",
        "a repeated clientDedup (our extension, as on SMS) is 409 with the first top-up",
    ),
    ("POST", TOPUP_PATH, 413): ("error_400", _TOO_LARGE),
    ("GET", TOPUPS_PATH, 400): (
        "error_400",
        "a wrongly typed query parameter (limit, failed, dates, a foreign cursor) is 400",
    ),
    ("GET", TOPUPS_PATH, 404): ("error_404", _NOT_FOUND_ORG),
    ("GET", FILES_PATH, 400): (
        "error_400",
        "a wrongly typed query parameter is 400 on every route; getFileList documents no 400",
    ),
    ("GET", FILES_PATH, 404): ("error_404", _NOT_FOUND_ORG),
    ("POST", FILES_PATH, 404): ("error_404", _NOT_FOUND_ORG),
    ("POST", FILES_PATH, 413): ("error_400", _TOO_LARGE),
    ("GET", FILE_PATH, 400): (
        "error_400",
        "a wrongly typed query parameter is 400 on every route; downloadFile documents no 400",
    ),
    ("POST", FILE_PATH, 413): ("error_400", _TOO_LARGE),
    ("POST", WHATSAPP_CONTACT_PATH, 409): (
        "error_400",
        "a repeated clientDedup (our extension, as on SMS) is 409 with the first message",
    ),
    ("POST", WHATSAPP_CONTACT_PATH, 413): ("error_400", _TOO_LARGE),
    ("GET", WHATSAPP_LIST_PATH, 404): ("error_404", _NOT_FOUND_ORG),
    ("GET", WHATSAPP_ONE_PATH, 400): (
        "error_400",
        "a wrongly typed query parameter is 400 on every route; getWhatsApp documents no 400",
    ),
    ("DELETE", FILE_PATH, 400): (
        "error_400",
        "a file a campaign step still names cannot be deleted (file.inuse); deleteFile"
        " documents no 400",
    ),
}


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _is_rfc3339_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        return False
    datetime.fromisoformat(value.replace("z", "Z").replace("t", "T"))
    return True


# jsonschema checks "date-time" only with an optional package; this checker does it without.
FORMATS = FormatChecker()
FORMATS.checks("date-time", raises=ValueError)(_is_rfc3339_date_time)


def reference_spec_path() -> Path:
    """Where the contract is: contract/engagespark-openapi.json in the repository."""
    return CONTRACT_PATH


@cache
def reference_spec() -> dict[str, Any]:
    """The contract as a parsed OpenAPI document (do not modify it; copy first)."""
    loaded = json.loads(CONTRACT_PATH.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict), f"{CONTRACT_PATH} is not an OpenAPI document"
    return loaded


@cache
def _registry() -> Registry[Any]:
    resource = Resource.from_contents(reference_spec(), default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(SPEC_URI, resource)
    return registry


def _pointer(*segments: str) -> str:
    escaped = (s.replace("~", "~0").replace("/", "~1") for s in segments)
    return quote("/" + "/".join(escaped), safe="/~")


def _follow_ref(node: dict[str, Any]) -> tuple[dict[str, Any], tuple[str, ...] | None]:
    """A `$ref: '#/...'` node resolved, with the segments it points to (None when inline)."""
    ref = node.get("$ref")
    if ref is None:
        return node, None
    assert isinstance(ref, str) and ref.startswith("#/"), f"unsupported reference {ref!r}"
    segments = tuple(s.replace("~1", "/").replace("~0", "~") for s in ref[2:].split("/"))
    target: Any = reference_spec()
    for segment in segments:
        target = target[segment]
    assert isinstance(target, dict)
    return target, segments


def _body_schema_pointer(response: dict[str, Any], where: tuple[str, ...]) -> str | None:
    """The JSON pointer of a response object's JSON body schema, or None if it has none."""
    resolved, ref_segments = _follow_ref(response)
    base = ref_segments if ref_segments is not None else where
    content = resolved.get("content", {})
    if "application/json" not in content or "schema" not in content["application/json"]:
        return None
    return _pointer(*base, "content", "application/json", "schema")


def _validate(pointer: str, body: Any, what: str) -> None:
    validator = Draft202012Validator(
        {"$ref": f"{SPEC_URI}#{pointer}"},
        registry=_registry(),
        format_checker=FORMATS,
    )
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    if errors:
        details = "\n".join(
            f"  at {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors
        )
        pytest.fail(f"{what}: body does not match the spec:\n{details}\nbody: {body!r}")


def operation(method: str, path_template: str) -> dict[str, Any]:
    """The spec's operation object for a method and path template."""
    paths = reference_spec()["paths"]
    if path_template not in paths:
        pytest.fail(f"the spec has no path {path_template}")
    found = paths[path_template].get(method.lower())
    if not isinstance(found, dict):
        pytest.fail(f"the spec has no {method.upper()} {path_template}")
    return found


def assert_matches_spec(method: str, path_template: str, status: int, body: Any) -> None:
    """Fail unless the spec documents `status` for the operation and `body` fits its schema.

    A status listed in KNOWN_SPEC_GAPS is checked against the component response named there.
    """
    method = method.upper()
    what = f"{method} {path_template} -> {status}"
    responses: dict[str, Any] = operation(method, path_template)["responses"]
    if str(status) in responses:
        where = ("paths", path_template, method.lower(), "responses", str(status))
        pointer = _body_schema_pointer(responses[str(status)], where)
        prose_schema = BODY_SCHEMAS_FROM_PROSE.get((method, path_template, status))
        if pointer is None and prose_schema is not None:
            pointer = _pointer("components", "schemas", prose_schema)
        if pointer is None:
            pytest.fail(f"{what}: the spec documents no JSON body for this response")
        _validate(pointer, body, what)
        return
    gap = KNOWN_SPEC_GAPS.get((method, path_template, status))
    if gap is None:
        pytest.fail(f"{what}: the spec does not document status {status} for this operation")
    component, _why = gap
    assert_matches_component(component, body, f"{what} (known spec gap)")


def assert_matches_component(component: str, body: Any, what: str = "") -> None:
    """Fail unless `body` fits the spec's `#/components/responses/<component>` body schema."""
    pointer = _body_schema_pointer(
        {"$ref": f"#/components/responses/{component}"}, ("components", "responses", component)
    )
    assert pointer is not None, f"component response {component} has no JSON body"
    _validate(pointer, body, f"{what or 'body'} (shaped like {component})")


def reference_spec_with_known_gaps() -> dict[str, Any]:
    """A copy of the spec with KNOWN_SPEC_GAPS added to the operations' responses."""
    spec = copy.deepcopy(reference_spec())
    for (method, path_template, status), (component, why) in KNOWN_SPEC_GAPS.items():
        responses = spec["paths"][path_template][method.lower()]["responses"]
        assert str(status) not in responses, f"{method} {path_template} now documents {status}"
        responses[str(status)] = {
            "$ref": f"#/components/responses/{component}",
            "description": f"Known spec gap: {why}",
        }
    return spec
