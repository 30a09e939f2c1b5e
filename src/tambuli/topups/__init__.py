"""Airtime top-ups: operators, denominations, amount selection and the top-up lifecycle."""
