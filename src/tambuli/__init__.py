"""Tambuli: a self-hostable messaging platform with an engageSPARK-compatible HTTP API."""

__version__ = "0.1.0"
