"""Tests of the headless controller."""
