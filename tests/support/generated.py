"""`services_module()`: the source of a module of many services, as users write them.

For tests and benchmarks at scale (1,000 services, or a listing larger than a pipe).
"""

from __future__ import annotations


def services_module(count: int, doc: str = "Service number {i}.") -> str:
    """A module defining loop services `Svc0000` ... up to `count`, each with a docstring
    (`doc`, formatted with its number `i`)."""
    lines = ["from servicedeck import LoopService", ""]
    for i in range(count):
        lines += [
            "",
            f"class Svc{i:04d}(LoopService):",
            f'    """{doc.format(i=i)}"""',
            "",
            "    async def run_once(self) -> None: ...",
        ]
    return "\n".join(lines) + "\n"
