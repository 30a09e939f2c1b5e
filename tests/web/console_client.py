"""A person using the console over HTTP: cookies kept, CSRF tokens read from the pages."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

import httpx

from tambuli.clock import Clock
from tambuli.db.engine import Database
from tambuli.organizations import users
from tambuli.organizations.models import Role

PASSWORD = "a long test password"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class Person:
    """A console user made for a test."""

    user_id: int
    email: str
    password: str


async def make_person(
    db: Database, clock: Clock, org_id: int, role: Role, password: str = PASSWORD
) -> Person:
    """A new console user with a password and a role in the organization."""
    email = f"person-{secrets.token_hex(6)}@example.org"
    user_id = await users.create_console_user(db, clock, org_id, email, role, password)
    return Person(user_id, email, password)


def csrf_token_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = _CSRF.search(html)
    assert found is not None, html[:2000]
    return found.group(1)


class ConsoleBrowser:
    """An HTTP client that behaves like a browser on the console (minus JavaScript)."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, follow_redirects=False, timeout=30)

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    def page(self, path: str) -> httpx.Response:
        """GET a page without following redirects."""
        return self.http.get(path)

    def submit(self, form_page: str, action: str, fields: dict[str, str]) -> httpx.Response:
        """Open form_page, then POST its CSRF token and the fields to action."""
        token = csrf_token_of(self.http.get(form_page).text)
        return self.http.post(action, data={"csrf_token": token, **fields})

    def sign_in(self, person: Person) -> httpx.Response:
        """Sign in through the form; the answer is the redirect after it."""
        return self.submit(
            "/sign-in", "/sign-in", {"email": person.email, "password": person.password}
        )
