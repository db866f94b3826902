"""Reloading changed code (`servicedeck --reload`, `servicedeck run --reload`).

`Reloader` watches the files of the services' modules and of the project's modules they
import (`ModuleGraph`), with watchfiles (the optional extra `servicedeck[reload]`,
imported only by `Reloader.watch()`), and on a save swaps the affected services for ones
made from the new code, in the state they were in. It drives a `ServiceController`: a
layer of its own, between the command line and the controller; the console never
imports it (it sees reloads in the snapshots: `reloaded_at`, `reload_error`, `removed`).
"""

from servicedeck.reload._graph import ModuleGraph, Stamp
from servicedeck.reload._reloader import DEBOUNCE_MS, Reloader, ReloadReport

__all__ = ["DEBOUNCE_MS", "ModuleGraph", "ReloadReport", "Reloader", "Stamp"]
