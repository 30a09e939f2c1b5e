"""The first start of `tambuli serve` prints the demo owner's console sign-in, which works."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.server import running_server
from tests.web.console_client import ConsoleBrowser, csrf_token_of


def test_the_demo_owner_printed_on_first_start_signs_in_over_https_only_cookies(
    fresh_database_url: str, tmp_path: Path
) -> None:
    with running_server(
        fresh_database_url, tmp_path, extra_env={"TAMBULI_SECURE_COOKIES": "1"}
    ) as server:
        lines = [line.strip() for line in server.log().splitlines()]
        email = next(line.split()[-1] for line in lines if line.startswith("email:"))
        password = next(line.split()[-1] for line in lines if line.startswith("password:"))
        org_id, _ = server.read_demo_organization()
        assert email == "demo@example.org" and len(password) >= 10
        browser = ConsoleBrowser(server.base_url)
        try:
            # httpx keeps Secure cookies for https only; each is handed back as a browser on
            # https would.
            form = browser.page("/sign-in")
            browser.http.cookies.set("tambuli_pre", _secure_cookie(form, "tambuli_pre"))
            answer = browser.http.post(
                "/sign-in",
                data={"csrf_token": csrf_token_of(form.text), "email": email, "password": password},
            )
            assert answer.status_code == 303
            browser.http.cookies.set("tambuli_session", _secure_cookie(answer, "tambuli_session"))
            dashboard = browser.page(f"/orgs/{org_id}/")
            assert dashboard.status_code == 200
            assert "Demo organization" in dashboard.text and "10.00" in dashboard.text
        finally:
            browser.close()


def _secure_cookie(response: httpx.Response, name: str) -> str:
    """The value of a cookie the response sets, which must be Secure, HttpOnly and Lax."""
    header = next(h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}="))
    assert "Secure" in header and "HttpOnly" in header and "SameSite=lax" in header
    return header.split(";")[0].split("=", 1)[1]


def test_a_session_started_on_one_process_works_on_another_of_the_same_database(
    fresh_database_url: str, tmp_path: Path
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        running_server(fresh_database_url, tmp_path / "a") as first,
        running_server(fresh_database_url, tmp_path / "b", extra_args=["--no-workers"]) as second,
    ):
        lines = [line.strip() for line in first.log().splitlines()]
        email = next(line.split()[-1] for line in lines if line.startswith("email:"))
        password = next(line.split()[-1] for line in lines if line.startswith("password:"))
        org_id, _ = first.read_demo_organization()
        one, other = ConsoleBrowser(first.base_url), ConsoleBrowser(second.base_url)
        try:
            form = one.page("/sign-in")
            answer = one.http.post(
                "/sign-in",
                data={"csrf_token": csrf_token_of(form.text), "email": email, "password": password},
            )
            assert answer.status_code == 303
            other.http.cookies.update(dict(one.http.cookies))
            assert other.page(f"/orgs/{org_id}/").status_code == 200
        finally:
            one.close()
            other.close()
