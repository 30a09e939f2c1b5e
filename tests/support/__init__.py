"""Test support: scratch databases, a real `tambuli serve` subprocess, the reference spec."""
