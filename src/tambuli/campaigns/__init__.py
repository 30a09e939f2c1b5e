"""Campaigns ("engagements"): steps, subscriptions (runs), scheduling, delays and time zones."""
