"""Run loops that claim due rows, act on them and record the outcome."""
