"""Airtime top-up providers: the protocol (base), the simulator, and Reloadly."""
