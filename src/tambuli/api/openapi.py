"""The served OpenAPI document and the docs page that renders it, both in this one module.

Litestar generates the document from the routes and their msgspec structs; `served_document`
then makes it describe the API as engageSPARK clients call it: the spec's camelCase path
parameters and trailing slashes, every status a route answers with the real error body, and
the query values the routes parse as text given the types they accept. The docs page loads
Redoc from an installed, pinned package, so it renders on a machine without internet.
"""

from __future__ import annotations

import copy
import re
from importlib import metadata
from pathlib import Path
from typing import Any

from litestar import Litestar, Request, Router, get
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.static_files import create_static_files_router

from tambuli import __version__
from tambuli.api.errors import status_for_class
from tambuli.errors import (
    BodyTooLarge,
    Conflict,
    InsufficientFunds,
    InvalidInput,
    NotFound,
    Overloaded,
    ServiceUnavailable,
    TambuliError,
    Unauthorized,
)

OPENAPI_PATH = "/openapi.json"
DOCS_PATH = "/docs"
# Redoc's standalone bundle ships in this package (pinned in pyproject.toml); only its static
# files are read, never its Python code.
REDOC_DISTRIBUTION = "drf-spectacular-sidecar"
REDOC_BUNDLE = "drf_spectacular_sidecar/static/drf_spectacular_sidecar/redoc/bundles"

ERROR_SCHEMA = "Error"
_DOCUMENT_STATE = "served_openapi_document"

# Answers any route may give: a missing or dead token, a server shedding load, a database that
# is away. 400 too: every route has a path or query value it can refuse.
COMMON_ERRORS: tuple[type[TambuliError], ...] = (
    InvalidInput,
    Unauthorized,
    Overloaded,
    ServiceUnavailable,
)
# ... plus these for a route under /v1/organizations/{orgId} (an orgId that cannot be one)
ORG_ERRORS: tuple[type[TambuliError], ...] = (NotFound,)
# ... and these for a route with a request body.
BODY_ERRORS: tuple[type[TambuliError], ...] = (BodyTooLarge,)

# What else each operation may answer, by operationId.
ROUTE_ERRORS: dict[str, tuple[type[TambuliError], ...]] = {
    "sendSmsContact": (InsufficientFunds, NotFound, Conflict),
    "sendSmsPhonenumber": (InsufficientFunds, NotFound, Conflict),
    "sendOrgTopup": (InsufficientFunds, Conflict),
    "legacyAirtimeTopup": (InsufficientFunds, NotFound, Conflict),
    "legacySubscribeContacts": (NotFound,),
    # The import reads its upload itself, up to Settings.max_upload_bytes.
    "importContacts": (BodyTooLarge,),
    "uploadFile": (BodyTooLarge,),
    "downloadFile": (NotFound,),
    "updateFile": (NotFound,),
    "deleteFile": (NotFound,),
}

# Bodies a route reads itself rather than through a struct, so Litestar cannot see them.
REQUEST_BODIES: dict[str, dict[str, Any]] = {
    "importContacts": {
        "required": True,
        "description": "A CSV file whose header line names the columns",
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            },
            "text/csv": {"schema": {"type": "string"}},
        },
    },
    "uploadFile": {
        "required": True,
        "description": "The files, each in a field named upload",
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["upload"],
                    "properties": {
                        "upload": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                        }
                    },
                }
            }
        },
    },
}

# Operations whose 200 is raw bytes of whichever type the stored file is (the reference says
# application/octet-stream; the answer names the detected type, docs/files.md).
ANY_TYPE_ANSWERS = frozenset({"downloadFile"})

# Operations whose 409 repeats the first request's answer (a reused clientDedup): the body is
# the 200 body plus error fields, not an error body.
CONFLICT_REPEATS_ANSWER = frozenset(
    {
        "sendSmsContact",
        "sendSmsPhonenumber",
        "sendWhatsAppContact",
        "sendOrgTopup",
        "legacyAirtimeTopup",
    }
)
# Operations that answer 202 when the work is queued, with the 200 body.
ACCEPTED_ANSWERS = frozenset({"sendOrgTopup", "legacyAirtimeTopup"})

# engageSPARK writes a trailing slash after a collection or an item; these operations' paths
# are published with it (the server answers with or without).
TRAILING_SLASH_OPERATIONS = frozenset(
    {
        "listContacts",
        "createContact",
        "getContact",
        "updateContact",
        "deleteContact",
        "getSmsList",
        "getSms",
        "getWhatsAppList",
        "getWhatsApp",
        "sendOrgTopup",
        "getOrgTopupsList",
        "getOrgTopups",
        "getFileList",
        "uploadFile",
    }
)

# Query values the routes read as text and parse themselves (to answer engageSPARK's error
# body): what they accept. Counts are digits only, at most 18 of them; 0 means 1.
_COUNT = {"type": "integer", "minimum": 0, "maximum": 999_999_999_999_999_999}
# Filters of the contacts list: an empty value is no filter (docs/contacts.md).
_EMPTY = {"type": "string", "maxLength": 0}
_ID_OR_EMPTY = {"oneOf": [{"type": "integer", "minimum": 1, "maximum": 2**63 - 1}, _EMPTY]}
_FLAG_OR_EMPTY = {"oneOf": [{"type": "boolean"}, _EMPTY]}
QUERY_SCHEMAS: dict[str, dict[str, Any]] = {
    "limit": _COUNT,
    "page": _COUNT,
    "size": _COUNT,
    "groupid": _ID_OR_EMPTY,
    "subscriptionstatus": _ID_OR_EMPTY,
    "noautodelete": _FLAG_OR_EMPTY,
    "whatsappready": _FLAG_OR_EMPTY,
    "subscriptionfilter": {"type": "string", "enum": ["is", "isnot", "was", ""]},
    # The Files upload's audio conversion and video check.
    "filter": {"type": "string", "enum": ["ogg", "mp3", "mono", "norm", ""]},
    "video": _FLAG_OR_EMPTY,
}

# Query values a route requires but reads as optional, so that a caller without a token is
# told 401 before being told the value is missing: (operationId, name).
REQUIRED_QUERY = frozenset({("uploadFile", "category")})

_STATUS_TEXT = {
    400: "The request is invalid",
    401: "The token is missing, unknown or revoked, or not a member of the organization",
    402: "The balance does not cover the price",
    404: "Not found",
    409: "A request with the same clientDedup was accepted before",
    413: "The request body is larger than the server accepts",
    429: "The server is overloaded; retry after Retry-After seconds",
    503: "The server cannot serve the request now; retry after Retry-After seconds if given",
}
_SNAKE_PARAMETER = re.compile(r"\{([a-z]+(?:_[a-z0-9]+)+)\}")


def camel_case(name: str) -> str:
    """`org_id` -> `orgId`: the spelling engageSPARK uses for parameters."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def error_statuses(operation_id: str, has_org: bool, has_body: bool) -> list[int]:
    """The error statuses an operation may answer, from the errors it may raise."""
    classes = list(COMMON_ERRORS) + list(ROUTE_ERRORS.get(operation_id, ()))
    if has_org:
        classes += ORG_ERRORS
    if has_body:
        classes += BODY_ERRORS
    return sorted({status_for_class(cls) for cls in classes})


def served_document(generated: dict[str, Any]) -> dict[str, Any]:
    """The document Litestar generated, corrected to describe the API as it is called.

    Request bodies stay open (no `additionalProperties: false`): every route ignores fields it
    does not know, as the reference's schemas allow (docs/decisions.md).
    """
    document = copy.deepcopy(generated)
    paths: dict[str, Any] = {}
    for path, item in document.get("paths", {}).items():
        operations = [op for op in item.values() if isinstance(op, dict) and "responses" in op]
        public_path = _SNAKE_PARAMETER.sub(lambda m: "{" + camel_case(m.group(1)) + "}", path)
        if any(op.get("operationId") in TRAILING_SLASH_OPERATIONS for op in operations):
            public_path = public_path.rstrip("/") + "/"
        for operation in operations:
            _correct_operation(operation, has_org="{org_id}" in path)
        paths[public_path] = item
    document["paths"] = paths
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas[ERROR_SCHEMA] = _error_schema()
    return document


def _correct_operation(operation: dict[str, Any], has_org: bool) -> None:
    operation_id = str(operation.get("operationId", ""))
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "path":
            parameter["name"] = camel_case(parameter["name"])
        elif parameter.get("in") == "query":
            schema = _without_null(parameter.get("schema", {}))
            if schema.get("type") == "string" and parameter["name"] in QUERY_SCHEMAS:
                # Read as text by the route, which parses it itself.
                schema = dict(QUERY_SCHEMAS[parameter["name"]])
            parameter["schema"] = schema
            if (operation_id, parameter["name"]) in REQUIRED_QUERY:
                parameter["required"] = True
    if operation_id in REQUEST_BODIES:
        operation["requestBody"] = copy.deepcopy(REQUEST_BODIES[operation_id])
    responses: dict[str, Any] = operation["responses"]
    success = next((responses[code] for code in ("200", "201") if code in responses), None)
    if operation_id in ANY_TYPE_ANSWERS and success is not None:
        success["content"] = {"*/*": {"schema": {"type": "string", "format": "binary"}}}
    for code in [code for code in responses if code.startswith(("4", "5"))]:
        del responses[code]
    if operation_id in ACCEPTED_ANSWERS and success is not None:
        responses["202"] = {**success, "description": "Accepted: the work is queued"}
    for status in error_statuses(operation_id, has_org, "requestBody" in operation):
        if status == 409 and operation_id in CONFLICT_REPEATS_ANSWER and success is not None:
            responses["409"] = {**success, "description": _STATUS_TEXT[409]}
            continue
        responses[str(status)] = _error_response(status)


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    # An optional text query value is absent or text: `oneOf [string, null]` is string. Other
    # optional values keep their null: the server reads `?groupid=null` as no groupid.
    choices = schema.get("oneOf")
    if not isinstance(choices, list):
        return schema
    kept = [choice for choice in choices if choice != {"type": "null"}]
    if len(kept) != 1 or kept[0].get("type") != "string":
        return schema
    rest = {key: value for key, value in schema.items() if key != "oneOf"}
    return {**kept[0], **rest}


def _error_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": _STATUS_TEXT.get(status, "Error"),
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}}
        },
    }
    if status in (429, 503):
        response["headers"] = {
            "Retry-After": {
                "description": "Seconds to wait before retrying",
                "schema": {"type": "string"},
            }
        }
    return response


def _error_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "engageSPARK's error body; 401 and 402 carry only `error`.",
        "required": ["error"],
        "properties": {
            "error": {"type": "string", "description": "What went wrong, for a person"},
            "errorCode": {"type": "string", "description": "A stable code, e.g. contact.notfound"},
            "context": {"type": "object", "description": "Details, e.g. the field at fault"},
        },
    }


def redoc_directory() -> Path:
    """The folder of the installed Redoc bundle."""
    return Path(str(metadata.distribution(REDOC_DISTRIBUTION).locate_file(REDOC_BUNDLE)))


# Nothing but this server: Redoc's footer would fetch its logo from a CDN, which an offline
# install cannot reach and a self-hosted one should not tell about its readers.
_PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline';"
    " worker-src 'self' blob:; font-src 'self' data:"
)
_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{policy}">
<title>Tambuli API</title>
<style>body {{ margin: 0; padding: 0; }}</style>
</head>
<body>
<redoc spec-url="{spec_url}"></redoc>
<script src="{docs}/static/redoc.standalone.js"></script>
</body>
</html>
"""


class RedocPage(OpenAPIRenderPlugin):
    """The docs page: Redoc from the installed bundle, the served document, no web fonts."""

    def __init__(self) -> None:
        super().__init__(path="/")

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        """The HTML page; Redoc fetches /openapi.json itself."""
        return _PAGE.format(spec_url=OPENAPI_PATH, docs=DOCS_PATH, policy=_PAGE_POLICY).encode()

    def receive_router(self, router: Router) -> None:
        """Serve the Redoc bundle under /docs/static/."""
        router.register(
            create_static_files_router(
                path="/static", directories=[redoc_directory()], include_in_schema=False
            )
        )


class ServedJson(OpenAPIRenderPlugin):
    """/docs/openapi.json: the same corrected document as /openapi.json."""

    def __init__(self) -> None:
        super().__init__(path="/openapi.json")

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        """The corrected document as JSON."""
        return self.render_json(request, document_of(request.app))


def openapi_config() -> OpenAPIConfig:
    """Litestar's OpenAPI settings: title, the token scheme, the docs page and its JSON."""
    return OpenAPIConfig(
        title="Tambuli",
        version=__version__,
        description="engageSPARK-compatible messaging API. Send `Authorization: Token <token>`.",
        path=DOCS_PATH,
        render_plugins=[RedocPage(), ServedJson()],
        security=[{"apiToken": []}],
        components=Components(
            security_schemes={
                "apiToken": SecurityScheme(
                    type="http", scheme="token", description="Authorization: Token <token>"
                )
            }
        ),
    )


def document_of(app: Litestar) -> dict[str, Any]:
    """The document an application serves at /openapi.json (computed once per application)."""
    cached = app.state.get(_DOCUMENT_STATE)
    if cached is None:
        cached = served_document(app.openapi_schema.to_schema())
        app.state[_DOCUMENT_STATE] = cached
    return dict(cached)


@get(OPENAPI_PATH, include_in_schema=False, sync_to_thread=False)
def openapi_document(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Tambuli's OpenAPI document (the same as /docs/openapi.json)."""
    return document_of(request.app)
