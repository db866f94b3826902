"""Reloading changed code: new code runs, state comes back, the rest runs on."""

from __future__ import annotations

import gc
import sys
import tracemalloc
from pathlib import Path

import anyio
import pytest
from support.waiting import wait_until

from servicedeck import LoopService, ServiceState
from servicedeck.control import Command
from servicedeck.controller import ServiceController
from servicedeck.reload import Reloader

from .conftest import Project

pytestmark = pytest.mark.anyio


def make(project: Project) -> tuple[ServiceController, Reloader]:
    controller = ServiceController(project.classes(), stall_threshold=None)
    return controller, Reloader(controller, project.classes, root=project.folder)


async def test_a_saved_change_runs_the_new_code_and_keeps_the_state(project: Project) -> None:
    a = project.service("a", "Alpha", 1)
    project.service("b", "Beta", 1)
    controller, reloader = make(project)
    async with controller:
        await controller.start("Alpha")
        await controller.pause("Beta")
        await controller.set_pause_on_error("Alpha", True)
        await controller.set_enabled("Alpha", False)
        await wait_until(controller, lambda: project.events("loop", "Alpha") == [1])
        project.service("a", "Alpha", 2)
        report = await reloader.reload_files([a])
        assert report.reloaded == ("Alpha",)
        assert report.files == (a.name,)
        await wait_until(controller, lambda: 2 in project.events("loop", "Alpha"))
        snap = controller.snapshot("Alpha")
        assert snap.has_task
        assert not snap.status.paused
        assert snap.pause_on_error
        assert snap.enabled is False
        assert snap.reloaded_at is not None
        assert project.events("teardown", "Alpha") == [1]  # the old one stopped gracefully
        # Beta was paused and untouched: its module did not change.
        beta = controller.snapshot("Beta")
        assert beta.status.paused
        assert beta.reloaded_at is None
        assert project.events("setup", "Beta") == [1]
        assert any("reloaded" in line.message for line in controller.logs("Alpha"))


async def test_a_paused_service_comes_back_paused_and_a_stopped_one_stopped(
    project: Project,
) -> None:
    a = project.service("a", "Alpha", 1)
    b = project.service("b", "Beta", 1)
    controller, reloader = make(project)
    async with controller:
        await controller.pause("Alpha")
        await wait_until(controller, lambda: controller.snapshot("Alpha").status.paused)
        project.service("a", "Alpha", 2)
        project.service("b", "Beta", 2)
        report = await reloader.reload_files([a, b])
        assert set(report.reloaded) == {"Alpha", "Beta"}
        await wait_until(controller, lambda: project.events("setup", "Alpha") == [1, 2])
        assert controller.snapshot("Alpha").status.paused
        assert controller.snapshot("Alpha").status.loop_count == 0
        assert not controller.snapshot("Beta").has_task
        await controller.step("Beta")
        assert project.events("loop", "Beta") == [2]


async def test_a_syntax_error_keeps_the_old_code_and_a_fix_clears_it(project: Project) -> None:
    a = project.service("a", "Alpha", 1)
    controller, reloader = make(project)
    async with controller:
        await controller.start("Alpha")
        await wait_until(controller, lambda: project.events("loop", "Alpha") == [1])
        project.write("a", a.read_text().replace("VERSION = 1", "VERSION = (2"))
        report = await reloader.reload_files([a])
        assert report.error is not None
        assert report.error.startswith(f"{a.name}:")
        assert "SyntaxError" in report.error
        snap = controller.snapshot("Alpha")
        assert snap.reload_error == report.error
        assert snap.has_task
        assert snap.reloaded_at is None
        count = len(project.events("loop", "Alpha"))
        await wait_until(controller, lambda: len(project.events("loop", "Alpha")) > count)
        assert set(project.events("loop", "Alpha")) == {1}  # the old code runs on
        project.service("a", "Alpha", 3)
        report = await reloader.reload_files([a])
        assert report.error is None
        assert report.reloaded == ("Alpha",)
        assert controller.snapshot("Alpha").reload_error is None
        await wait_until(controller, lambda: 3 in project.events("loop", "Alpha"))


async def test_an_import_that_raises_names_its_file_and_line(project: Project) -> None:
    a = project.service("a", "Alpha", 1)
    controller, reloader = make(project)
    async with controller:
        project.write("a", a.read_text().replace("VERSION = 1", "VERSION = 1 / 0"))
        report = await reloader.reload_files([a])
        assert report.error is not None
        assert report.error.startswith(f"{a.name}:6: ZeroDivisionError")
        assert controller.snapshot("Alpha").reload_error == report.error
        await controller.step("Alpha")
        assert project.events("loop", "Alpha") == [1]


async def test_a_helper_change_reloads_only_the_service_that_imports_it(project: Project) -> None:
    helper = project.write("helper", "FACTOR = 1\n")
    project.service(
        "a",
        "Alpha",
        1,
        imports=f"import {project.module('helper')} as helper",
        extra=", helper.FACTOR",
    )
    project.service("b", "Beta", 1)
    controller, reloader = make(project)
    async with controller:
        await controller.start("Alpha")
        await controller.start("Beta")
        await wait_until(controller, lambda: bool(project.events("loop", "Beta")))
        project.write("helper", "FACTOR = 10\n")
        report = await reloader.reload_files([helper])
        assert report.reloaded == ("Alpha",)
        assert report.files == (helper.name,)
        await wait_until(
            controller,
            lambda: any(e[:2] == ("loop", "Alpha") and e[3] == 10 for e in project.sink.events),
        )
        assert project.events("setup", "Beta") == [1]  # Beta ran on
        assert controller.snapshot("Beta").reloaded_at is None


async def test_a_removed_class_is_shown_removed_and_a_new_one_appears(project: Project) -> None:
    a = project.service("a", "Alpha", 1)
    controller, reloader = make(project)
    async with controller:
        await controller.start("Alpha")
        text = a.read_text().replace("class Alpha", "class Gamma").replace('"Alpha"', '"Gamma"')
        project.write("a", text)
        report = await reloader.reload_files([a])
        assert (report.removed, report.added) == (("Alpha",), ("Gamma",))
        alpha = controller.snapshot("Alpha")
        assert alpha.removed
        assert not alpha.has_task
        assert controller.check("Alpha", Command.START)
        assert "Gamma" in controller.names
        assert not controller.snapshot("Gamma").has_task


async def test_restart_reloads_changed_code_else_restarts(project: Project) -> None:
    a = project.service("a", "Alpha", 1)
    controller, _reloader = make(project)
    async with controller:
        await controller.start("Alpha")
        report = await controller.restart("Alpha")
        assert report.reloaded == ()
        assert report.watching
        assert "has not changed" in report.summary
        project.service("a", "Alpha", 2)
        report = await controller.restart("Alpha")
        assert report.reloaded == (a.name,)
        assert report.summary.startswith(f"Alpha reloaded ({a.name} changed)")
        await wait_until(controller, lambda: 2 in project.events("loop", "Alpha"))
        assert any("reloaded" in line.message for line in controller.logs("Alpha"))


async def test_a_hundred_reloads_leave_no_stale_classes_or_modules(project: Project) -> None:
    a = project.service("a", "Alpha", 0)
    controller, reloader = make(project)
    module = project.module("a")

    def alphas() -> int:
        gc.collect()
        return sum(1 for cls in LoopService.all_services() if cls.__module__ == module)

    async with controller:
        await controller.start("Alpha")
        # Warm up: the log ring fills, the interpreter's tables grow to size.
        for version in range(1, 51):
            project.service("a", "Alpha", version)
            await reloader.reload_files([a])
        modules, classes = len(sys.modules), alphas()
        tracemalloc.start()
        try:
            first = tracemalloc.take_snapshot()
            for version in range(51, 151):
                project.service("a", "Alpha", version)
                await reloader.reload_files([a])
            gc.collect()
            growth = sum(
                stat.size_diff
                for stat in tracemalloc.take_snapshot().compare_to(first, "filename")
                # The test's own record of every loop grows, as it should.
                if not stat.traceback[0].filename.startswith(str(project.folder))
            )
        finally:
            tracemalloc.stop()
        assert reloader.reloads == 150
        assert (len(sys.modules), alphas()) == (modules, classes) == (len(sys.modules), 1)
        assert growth < 300_000, f"memory grew by {growth} bytes over 100 reloads"
        await wait_until(controller, lambda: 150 in project.events("loop", "Alpha"))
        assert controller.snapshot("Alpha").status.state is not ServiceState.CRASHED


async def test_watch_reloads_on_save(project: Project) -> None:
    pytest.importorskip("watchfiles")
    project.service("a", "Alpha", 1)
    controller, reloader = make(project)
    async with controller, anyio.create_task_group() as tg:
        await controller.start("Alpha")
        await tg.start(reloader.watch)
        project.service("a", "Alpha", 2)
        await wait_until(controller, lambda: 2 in project.events("loop", "Alpha"))
        assert controller.snapshot("Alpha").reloaded_at is not None
        tg.cancel_scope.cancel()


def test_the_graph_knows_the_project_modules(project: Project) -> None:
    project.write("helper", "X = 1\n")
    project.service("a", "Alpha", 1, imports=f"from {project.module('helper')} import X")
    project.classes()
    reloader = Reloader(
        ServiceController(project.classes(), stall_threshold=None),
        project.classes,
        root=project.folder,
    )
    graph = reloader.graph
    helper, a = project.module("helper"), project.module("a")
    assert graph.imports[a] == {helper}
    assert graph.importers({helper}) == {helper, a}
    assert Path(project.files["a"]).resolve() in reloader.watched
    assert not any(name.startswith("servicedeck._core") for name in graph.files)
