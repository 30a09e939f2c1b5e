"""Database: every table (schema.py), engines and transactions (engine.py), migrations."""
