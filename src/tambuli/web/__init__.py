"""The web console: server-rendered pages for an organization's people, on the same services
the API uses. Sessions (signed cookies), CSRF tokens and role checks live here."""
