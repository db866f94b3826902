"""The framework tests (both anyio backends; see conftest.py)."""
