"""API tokens as generated: usable on a command line as they are."""

from __future__ import annotations

from tambuli.organizations.models import generate_token, parse_authorization_header


def test_no_generated_token_starts_with_a_dash_a_command_line_would_read_as_an_option() -> None:
    # One random token in 64 would start with "-" if nothing prevented it.
    tokens = [generate_token() for _ in range(3000)]
    assert not [t for t in tokens if t.startswith("-")]
    assert len(set(tokens)) == len(tokens)
    assert all(parse_authorization_header(f"Token {t}") == t for t in tokens)
