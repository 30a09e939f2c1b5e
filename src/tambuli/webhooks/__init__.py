"""Outbound pushes to clients' URLs: signed, address-checked, stored as rows and retried."""
