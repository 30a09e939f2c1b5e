"""Organizations, their users and API tokens (stored only as hashes)."""
