"""Small deterministic apps for the snapshot tests (a frozen clock, services stepped)."""
