"""Reliability: faults, bad input, invariants and bounds (issue 6)."""
