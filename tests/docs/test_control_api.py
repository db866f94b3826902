"""docs/reference/control-api.md and the endpoint agree: every route, command and metric
the endpoint has is documented, and the page documents nothing it does not have."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.routing import Route

from servicedeck.control.endpoint import COMMANDS, ControlEndpoint
from servicedeck.control.metrics import ServiceCollector
from servicedeck.controller import ServiceController

PAGE = Path(__file__).resolve().parents[2] / "docs" / "reference" / "control-api.md"


def section(title: str) -> str:
    """The text of the page from heading `title` to the next heading of its level."""
    text = PAGE.read_text(encoding="utf-8")
    start = text.index(title)
    following = re.search(r"^#{2,3} ", text[start + len(title) :], re.M)
    return text[start : start + len(title) + (following.start() if following else len(text))]


def test_control_api_documents_exactly_the_routes_the_endpoint_serves() -> None:
    endpoint = ControlEndpoint(ServiceController([]))
    served = {
        f"{method} {route.path}"
        for route in endpoint.app.routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }

    documented = set(re.findall(r"^### `([A-Z]+ /\S*)`$", PAGE.read_text(), re.M))

    assert documented == served


def test_control_api_documents_exactly_the_commands_the_endpoint_takes() -> None:
    table = section("### `POST /v1/services/{name}/{command}`")

    documented = re.findall(r"^\| `([a-z-]+)` \|", table, re.M)

    assert documented == list(COMMANDS)


def test_control_api_documents_exactly_the_metrics_the_endpoint_exports() -> None:
    collector = ServiceCollector(ServiceController([]))
    exported = {family.name for family in collector.describe()}
    # prometheus-client keeps a counter's name without `_total`; it adds it on the wire.
    exported = {
        f"{name}_total" if f"{name}_total" in PAGE.read_text() else name for name in exported
    }

    documented = set(re.findall(r"^\| `(servicedeck_\w+)` \|", section("### `GET /metrics`"), re.M))

    assert documented == exported
