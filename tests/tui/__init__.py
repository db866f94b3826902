"""Tests of the Textual console: Pilot tests of every key, snapshot tests of every view."""
