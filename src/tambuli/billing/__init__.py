"""The prepaid balance: an append-only micro-USD ledger with reservations."""
