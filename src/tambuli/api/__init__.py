"""The engageSPARK-compatible HTTP API (Litestar): routes, auth, error bodies."""
