"""Requests that go wrong: auth, bodies, paths, sizes; and failures that must change nothing."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import httpx
import pytest

from tests.api.conftest import OrgApi, auth_header
from tests.conftest import OrgFactory
from tests.support.spec import (
    BALANCE_PATH,
    CONTACT_PATH,
    CONTACTS_PATH,
    IMPLEMENTED_OPERATIONS,
    assert_matches_spec,
    operation,
)

NUMBER = "639171234567"
ONE_MIB = 1_048_576

# Litestar converts bodies in msgspec's lax mode, which turns "true"/"false"/0/1 into booleans.


async def contact_routes(api: OrgApi) -> list[tuple[str, str, str, Any]]:
    """(method, path, spec path template, JSON body) for every implemented spec operation."""
    contact = await api.new_contact()
    one = f"{api.base}/contacts/{contact['id']}/"
    return [
        ("GET", f"{api.base}/balance.json", BALANCE_PATH, None),
        ("GET", f"{api.base}/contacts/", CONTACTS_PATH, None),
        ("POST", f"{api.base}/contacts/", CONTACTS_PATH, {"fullPhoneNumber": NUMBER}),
        ("GET", one, CONTACT_PATH, None),
        ("PUT", one, CONTACT_PATH, {"firstName": "Changed"}),
        ("DELETE", one, CONTACT_PATH, None),
    ]


def test_the_implemented_operations_are_where_the_spec_puts_them() -> None:
    for operation_id, (method, path_template) in IMPLEMENTED_OPERATIONS.items():
        assert operation(method, path_template)["operationId"] == operation_id


# --- authentication ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Token"},
        {"Authorization": "Bearer {token}"},
        {"Authorization": "{token}"},
        {"Authorization": "Basic {token}"},
        {"Authorization": "Token {token} extra"},
        {"Authorization": "Token {token}x"},
        {"Authorization": "Token not-a-real-token"},
    ],
    ids=[
        "no header",
        "empty",
        "scheme only",
        "bearer",
        "bare token",
        "basic",
        "trailing word",
        "altered token",
        "unknown token",
    ],
)
async def test_a_missing_or_unusable_token_is_401_on_every_route(
    api: OrgApi, headers: dict[str, str]
) -> None:
    sent = {k: v.format(token=api.org.token) for k, v in headers.items()}
    for method, path, template, body in await contact_routes(api):
        response = await api.call(method, path, template, authorized=False, headers=sent, json=body)
        assert response.status_code == 401, (method, path)
        assert response.json() == {"error": "Invalid Token"}
    assert await api.contact_count() == 1


@pytest.mark.parametrize("scheme", ["token", "TOKEN", "ToKeN", "Token"])
async def test_the_token_scheme_is_case_insensitive(api: OrgApi, scheme: str) -> None:
    for method, path, template, body in await contact_routes(api):
        response = await api.call(
            method,
            path,
            template,
            authorized=False,
            headers={"Authorization": f"{scheme} {api.org.token}"},
            json=body,
        )
        assert response.status_code == 200, (method, path, response.text)


async def test_another_organizations_id_is_401_with_only_an_error(
    api: OrgApi, make_org: OrgFactory
) -> None:
    other = await make_org(balance_micro=1_000_000)
    theirs = await OrgApi(api.server, other, api.client).new_contact()
    base = f"/v1/organizations/{other.org_id}"
    one = f"{base}/contacts/{theirs['id']}/"
    for method, path, template, body in (
        ("GET", f"{base}/balance.json", BALANCE_PATH, None),
        ("GET", f"{base}/contacts/", CONTACTS_PATH, None),
        ("POST", f"{base}/contacts/", CONTACTS_PATH, {"fullPhoneNumber": NUMBER}),
        ("GET", one, CONTACT_PATH, None),
        ("PUT", one, CONTACT_PATH, {"firstName": "Mine"}),
        ("DELETE", one, CONTACT_PATH, None),
        ("GET", f"{base}/groups/", None, None),
        ("POST", f"{base}/groups/", None, {"name": "Mine"}),
    ):
        response = await api.call(method, path, template, json=body)
        assert response.status_code == 401, (method, path)
        assert response.json() == {"error": "Invalid Token"}
    still = await OrgApi(api.server, other, api.client).get_contact(theirs["id"])
    assert still.json() == theirs


async def test_an_organization_that_does_not_exist_is_401_like_another_organization(
    api: OrgApi,
) -> None:
    response = await api.call("GET", "/v1/organizations/987654321/balance.json", BALANCE_PATH)
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid Token"}


# --- impossible path IDs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "org_text", ["abc", "1.5", "-1", "0", "1e3", "99999999999999999999", "%C2%B9"]
)
async def test_an_org_id_that_cannot_be_an_id_is_404_with_a_valid_token(
    api: OrgApi, org_text: str
) -> None:
    base = f"/v1/organizations/{org_text}"
    for method, path, template, body in (
        ("GET", f"{base}/balance.json", BALANCE_PATH, None),
        ("GET", f"{base}/contacts/", CONTACTS_PATH, None),
        ("POST", f"{base}/contacts/", CONTACTS_PATH, {"fullPhoneNumber": NUMBER}),
        ("GET", f"{base}/contacts/1/", CONTACT_PATH, None),
        ("PUT", f"{base}/contacts/1/", CONTACT_PATH, {"firstName": "x"}),
        ("DELETE", f"{base}/contacts/1/", CONTACT_PATH, None),
    ):
        response = await api.call(method, path, template, json=body)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["error"] == "Not found"


async def test_an_org_id_that_cannot_be_an_id_is_401_without_a_valid_token(api: OrgApi) -> None:
    response = await api.call(
        "GET",
        "/v1/organizations/abc/balance.json",
        BALANCE_PATH,
        headers={"Authorization": "Token unknown"},
    )
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid Token"}


@pytest.mark.parametrize(
    "contact_text",
    ["abc", "1.5", "-1", "0", "1e3", "99999999999999999999", "9" * 40, "%C2%B9", "%20"],
)
async def test_a_contact_id_that_cannot_be_an_id_is_404(api: OrgApi, contact_text: str) -> None:
    await api.new_contact()
    for method, body in (("GET", None), ("PUT", {"firstName": "x"}), ("DELETE", None)):
        response = await api.call(
            method, f"{api.base}/contacts/{contact_text}/", CONTACT_PATH, json=body
        )
        assert response.status_code == 404, (method, response.text)
        assert response.json() == {"error": "Not found", "errorCode": "contact.notfound"}
    assert await api.contact_count() == 1


async def test_the_largest_64_bit_contact_id_is_simply_not_found(api: OrgApi) -> None:
    for contact_id in (2**63 - 1, 10**18 - 1):
        response = await api.get_contact(contact_id)
        assert response.status_code == 404


# --- bodies -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b'{"fullPhoneNumber": ',
        b'{"fullPhoneNumber": "639171234567"',
        b"fullPhoneNumber=639171234567",
        b'{"fullPhoneNumber": "639171234567"}}',
        b'{"firstName": "\xff"}',
        b'{"firstName": "\\ud800"}',
    ],
    ids=[
        "garbage",
        "truncated",
        "unclosed",
        "form encoded",
        "trailing brace",
        "invalid utf-8",
        "lone surrogate",
    ],
)
async def test_a_body_that_is_not_json_is_refused_as_malformed(api: OrgApi, content: bytes) -> None:
    headers = {"Content-Type": "application/json"}
    one = await api.new_contact()
    for method, path, template in (
        ("POST", f"{api.base}/contacts/", CONTACTS_PATH),
        ("PUT", f"{api.base}/contacts/{one['id']}/", CONTACT_PATH),
    ):
        response = await api.call(method, path, template, content=content, headers=headers)
        assert response.status_code == 400, response.text
        assert response.json()["errorCode"] == "request.malformedjson"
    assert (await api.get_contact(one["id"])).json() == one
    assert await api.contact_count() == 1


@pytest.mark.parametrize(
    "path", ["/contacts/", "/topup/", "/v1/sms/phonenumber", "/v1/sms/contact", "/groups/"]
)
async def test_an_empty_body_is_refused_saying_that_it_is_empty(api: OrgApi, path: str) -> None:
    url = path if path.startswith("/v1/") else f"{api.base}{path}"
    response = await api.call("POST", url, None, content=b"", headers={})
    assert response.status_code == 400
    assert response.json() == {
        "error": "The request body is empty: send a JSON object",
        "errorCode": "request.emptybody",
    }
    assert await api.contact_count() == 0


@pytest.mark.parametrize(
    "body",
    [
        [],
        None,
        "639171234567",
        42,
        {"fullPhoneNumber": 639171234567},
        {"fullPhoneNumber": NUMBER, "firstName": 7},
        {"fullPhoneNumber": NUMBER, "lastName": ["a"]},
        {"fullPhoneNumber": NUMBER, "language": {"en": True}},
        {"fullPhoneNumber": NUMBER, "noAutodelete": "yes"},
        {"fullPhoneNumber": NUMBER, "noAutodelete": 1},
        {"fullPhoneNumber": NUMBER, "groups": 5},
        {"fullPhoneNumber": NUMBER, "groups": [True]},
        {"fullPhoneNumber": NUMBER, "groups": [1.5]},
        {"fullPhoneNumber": NUMBER, "groups": [None]},
        {"fullPhoneNumber": NUMBER, "customFields": ["a"]},
        {"fullPhoneNumber": NUMBER, "customFields": {"1": 5}},
        {"fullPhoneNumber": NUMBER, "customFieldsByName": {"Color": None}},
        {"phoneNumber": 9171234567, "phoneNumberCountry": "PH"},
    ],
)
async def test_wrong_types_in_a_create_body_are_refused(api: OrgApi, body: Any) -> None:
    response = await api.create_contact(body)
    assert response.status_code == 400, response.text
    # A JSON null body reads as no body at all.
    expected = "request.emptybody" if body is None else "request.invalidfield"
    assert response.json()["errorCode"] == expected
    assert await api.contact_count() == 0


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"firstName": 7},
        {"groups": "1"},
        {"noAutodelete": "false"},
        {"customFields": {"1": False}},
        {"fullPhoneNumber": 639171234567},
    ],
)
async def test_wrong_types_in_an_update_body_are_refused(api: OrgApi, body: Any) -> None:
    created = await api.new_contact(firstName="Ana")
    response = await api.update_contact(created["id"], body)
    assert response.status_code == 400, response.text
    assert response.json()["errorCode"] == "request.invalidfield"
    assert (await api.get_contact(created["id"])).json() == created


_VOLATILE = ("id", "createdAt", "updatedAt", "lastUseAt")


@pytest.mark.parametrize(
    "extra",
    [
        {"firstname": "Ana"},
        {"email": "a@example.org"},
        {"id": 5},
        {"carrier": "Globe"},
        {"contactType": "NORMAL", "type": "contact"},
    ],
)
async def test_unknown_fields_in_a_create_body_are_ignored(
    api: OrgApi, extra: dict[str, Any]
) -> None:
    plain = await api.new_contact(fullPhoneNumber=NUMBER, firstName="Ben")
    response = await api.create_contact({"fullPhoneNumber": NUMBER, "firstName": "Ben", **extra})
    assert response.status_code == 200, response.text
    created = response.json()
    assert created["id"] != plain["id"]
    assert _without(created, _VOLATILE) == _without(plain, _VOLATILE)


@pytest.mark.parametrize(
    "extra",
    [{"phoneNumber": "09181234567"}, {"phoneNumberCountry": "US"}, {"firstname": "x"}],
)
async def test_unknown_fields_in_an_update_body_are_ignored(
    api: OrgApi, extra: dict[str, Any]
) -> None:
    created = await api.new_contact()
    response = await api.update_contact(created["id"], {"firstName": "Changed", **extra})
    assert response.status_code == 200, response.text
    expected = {**created, "firstName": "Changed"}
    assert _without(response.json(), ("updatedAt",)) == _without(expected, ("updatedAt",))


def _without(contact: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in contact.items() if k not in names}


@pytest.mark.parametrize(
    ("field", "value"),
    [("firstName", "x" * 201), ("lastName", "a\x00b"), ("language", "y" * 201)],
)
async def test_over_long_or_nul_text_is_refused(api: OrgApi, field: str, value: str) -> None:
    response = await api.create_contact({"fullPhoneNumber": NUMBER, field: value})
    assert response.status_code == 400
    assert response.json()["errorCode"] == "request.invalidfield"
    assert await api.contact_count() == 0


async def send_raw(
    api: OrgApi, method: str, path: str, head: dict[str, str], body: bytes | None
) -> tuple[int, Any]:
    """One HTTP/1.1 request over a plain socket: (status, JSON body), past any 100 Continue.

    httpx cannot wait for `100 Continue`, and a server that refuses a body early may close the
    connection before the client finishes sending; a bare socket controls both.
    """
    url = httpx.URL(api.server.base_url)
    assert url.host == "127.0.0.1"
    reader, writer = await asyncio.open_connection(url.host, url.port)
    try:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {url.host}:{url.port}"]
        lines += [f"{k}: {v}" for k, v in {**auth_header(api.org.token), **head}.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        if body is not None:
            writer.write(body)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            # The server may answer and stop reading before the whole body is sent.
            await writer.drain()
        while True:
            status_line = await asyncio.wait_for(reader.readline(), 15)
            headers: dict[str, str] = {}
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            status = int(status_line.split()[1])
            if status != 100:
                break
        content = await reader.readexactly(int(headers["content-length"]))
        assert headers["content-type"].startswith("application/json"), headers
        return status, json.loads(content)
    finally:
        writer.close()


def _chunked(data: bytes, size: int = 65_536) -> bytes:
    parts = [
        b"%x\r\n%s\r\n" % (len(data[i : i + size]), data[i : i + size])
        for i in range(0, len(data), size)
    ]
    return b"".join(parts) + b"0\r\n\r\n"


@pytest.mark.parametrize("method", ["POST", "PUT"])
async def test_a_body_over_one_mib_is_413_before_it_is_sent(api: OrgApi, method: str) -> None:
    created = await api.new_contact(firstName="Ana")
    path, template = {
        "POST": (f"{api.base}/contacts/", CONTACTS_PATH),
        "PUT": (f"{api.base}/contacts/{created['id']}/", CONTACT_PATH),
    }[method]
    head = {
        "Content-Type": "application/json",
        "Content-Length": str(ONE_MIB + 1),
        "Expect": "100-continue",
    }
    status, body = await send_raw(api, method, path, head, None)
    assert status == 413
    assert_matches_spec(method, template, status, body)
    assert body["errorCode"] == "request.toolarge"
    assert await api.contact_count() == 1
    assert (await api.get_contact(created["id"])).json() == created


async def test_a_chunked_body_over_one_mib_is_413(api: OrgApi) -> None:
    payload = json.dumps({"fullPhoneNumber": NUMBER, "firstName": "x" * ONE_MIB}).encode()
    head = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    status, body = await send_raw(api, "POST", f"{api.base}/contacts/", head, _chunked(payload))
    assert status == 413
    assert_matches_spec("POST", CONTACTS_PATH, status, body)
    assert body["errorCode"] == "request.toolarge"
    assert await api.contact_count() == 0


async def test_a_body_just_under_one_mib_is_read(api: OrgApi) -> None:
    # Valid JSON near the cap is parsed and judged on its content, not refused for size.
    body = {"fullPhoneNumber": NUMBER, "customFieldsByName": {"Notes": "x" * 10_000}}
    padding = ONE_MIB - len(httpx.Request("POST", "/", json=body).content) - 200
    body["language"] = " " * padding + "en"
    response = await api.create_contact(body)
    assert response.status_code == 200, response.text
    assert response.json()["language"] == "en"


# --- paths ------------------------------------------------------------------------------------


@pytest.mark.parametrize("slash", ["", "/"], ids=["without slash", "with slash"])
async def test_every_route_answers_with_and_without_a_trailing_slash(
    api: OrgApi, slash: str
) -> None:
    one = f"{api.base}/contacts/{(await api.new_contact())['id']}"
    for method, path, template, body in (
        ("GET", f"{api.base}/balance.json", BALANCE_PATH, None),
        ("GET", f"{api.base}/contacts", CONTACTS_PATH, None),
        ("POST", f"{api.base}/contacts", CONTACTS_PATH, {"fullPhoneNumber": NUMBER}),
        ("GET", one, CONTACT_PATH, None),
        ("PUT", one, CONTACT_PATH, {"firstName": "Changed"}),
        ("DELETE", one, CONTACT_PATH, None),
        ("GET", f"{api.base}/groups", None, None),
        ("POST", f"{api.base}/groups", None, {"name": "Clinic"}),
        ("GET", f"{api.base}/customfields", None, None),
        ("POST", f"{api.base}/customfields", None, {"name": "Color"}),
    ):
        response = await api.call(method, path + slash, template, json=body)
        assert not response.is_redirect, (method, path + slash)
        assert response.status_code == 200, (method, path + slash, response.status_code)


async def test_a_path_that_does_not_exist_is_404_in_the_error_shape(api: OrgApi) -> None:
    for path in (f"{api.base}/nothing/", "/v1/nothing", f"{api.base}/contacts/1/extra/"):
        response = await api.call("GET", path, None)
        assert response.status_code == 404
        assert set(response.json()) <= {"error", "errorCode"}
        assert response.json()["error"] == "Not found"


async def test_a_method_a_route_does_not_have_is_405(api: OrgApi) -> None:
    created = await api.new_contact()
    for method, path in (
        ("PATCH", f"{api.base}/contacts/{created['id']}/"),
        ("DELETE", f"{api.base}/contacts/"),
        ("POST", f"{api.base}/balance.json"),
    ):
        response = await api.call(method, path, None, json={})
        assert response.status_code == 405, (method, path)
        assert response.json()["errorCode"] == "request.methodnotallowed"
    assert (await api.get_contact(created["id"])).json() == created


# --- message list queries ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["messages", "whatsapp"])
@pytest.mark.parametrize(
    ("query", "field", "error"),
    [
        ("dir=up&page=x", "dir", "dir must be inbound, outbound or all"),
        ("failed=maybe", "failed", "failed must be true, false or all"),
        ("search=a%00b", "search", "search must not contain NUL characters"),
        ("startDate=yesterday", "startDate", "startDate must be an RFC 3339 date-time"),
        ("endDate=2026-13-01", "endDate", "endDate must be an RFC 3339 date-time"),
        ("page=1&size=x", "size", "size must be a positive whole number"),
        ("limit=1.5", "limit", "limit must be a positive whole number"),
    ],
)
async def test_a_bad_message_list_value_is_400_naming_it_after_the_token_is_checked(
    api: OrgApi, kind: str, query: str, field: str, error: str
) -> None:
    path = f"{api.base}/{kind}/?{query}"
    response = await api.call("GET", path, None)
    assert response.status_code == 400
    assert response.json() == {
        "error": error,
        "errorCode": "request.invalidfield",
        "context": {"field": field},
    }
    unauthorized = await api.call("GET", path, None, authorized=False)
    assert (unauthorized.status_code, unauthorized.json()) == (401, {"error": "Invalid Token"})


@pytest.mark.parametrize("kind", ["messages", "whatsapp"])
async def test_a_message_list_reads_only_the_numbers_of_the_mode_it_uses(
    api: OrgApi, kind: str
) -> None:
    by_page = await api.call("GET", f"{api.base}/{kind}/?page=1&limit=x", None)
    assert (by_page.status_code, by_page.json()) == (200, {"messages": [], "paged": True})
    by_cursor = await api.call("GET", f"{api.base}/{kind}/?limit=2&after=", None)
    assert by_cursor.status_code == 200
    assert by_cursor.json() == {
        "messages": [],
        "paged": False,
        "hasNextPage": False,
        "nextPage": "",
    }


# --- failures change nothing ------------------------------------------------------------------


async def test_a_refused_create_leaves_the_contact_count_unchanged(api: OrgApi) -> None:
    await api.new_contact()
    group = await api.new_group("Clinic")
    for body in (
        {"fullPhoneNumber": NUMBER, "groups": [group, group + 1000]},
        {"fullPhoneNumber": "123", "groups": [group]},
        {"fullPhoneNumber": NUMBER, "firstName": "x" * 201},
    ):
        response = await api.create_contact(body)
        assert response.status_code == 400
    assert await api.contact_count() == 1
    groups = (await api.call("GET", f"{api.base}/groups/", None)).json()["groups"]
    assert [g["size"] for g in groups] == [0]


async def test_a_refused_create_does_not_keep_custom_fields_it_made_by_name(
    api: OrgApi,
) -> None:
    response = await api.create_contact(
        {
            "fullPhoneNumber": NUMBER,
            "customFieldsByName": {"Brand new": "x"},
            "firstName": "x" * 201,
        }
    )
    assert response.status_code == 400
    fields = (await api.call("GET", f"{api.base}/customfields/", None)).json()["customFields"]
    assert fields == []
    assert await api.contact_count() == 0


async def test_a_refused_update_does_not_keep_custom_fields_it_made_by_name(
    api: OrgApi,
) -> None:
    created = await api.new_contact(firstName="Ana")
    response = await api.update_contact(
        created["id"], {"customFieldsByName": {"Brand new": "x"}, "lastName": "y" * 201}
    )
    assert response.status_code == 400
    fields = (await api.call("GET", f"{api.base}/customfields/", None)).json()["customFields"]
    assert fields == []
    assert (await api.get_contact(created["id"])).json() == created
