"""The registry of service classes: `all_services()`, markers, names and duplicates."""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path

import anyio
import pytest

from servicedeck import (
    DuplicateServiceError,
    LoopService,
    RunInAllServers,
    Service,
    run_multiple_services,
)

from .conftest import WAIT_TIMEOUT

pytestmark = pytest.mark.anyio


def test_all_services_lists_concrete_subclasses_in_definition_order() -> None:
    class Base(LoopService):
        """Abstract: no run_once."""

    class Zeta(Base):
        async def run_once(self) -> None:
            pass

    class Alpha(Base):
        async def run_once(self) -> None:
            pass

    class Middle(Base):
        """Abstract too."""

    class Deep(Middle):
        async def run_once(self) -> None:
            pass

    class ZetaChild(Zeta):
        pass

    # Definition order, not alphabetical or by depth; abstract classes left out.
    assert Base.all_services() == [Zeta, Alpha, Deep, ZetaChild]
    assert Middle.all_services() == [Deep]
    assert Zeta.all_services() == [ZetaChild]
    assert Base.all_services() == Base.all_services()  # stable


def test_all_services_filters_by_marker_and_kind() -> None:
    class PlainBase(Service):
        """Abstract: no start or stop."""

    class LoopBase(LoopService):
        """Abstract: no run_once."""

    class MarkedLoop(RunInAllServers, LoopBase):
        async def run_once(self) -> None:
            pass

    class PlainLoop(LoopBase):
        async def run_once(self) -> None:
            pass

    class MarkedPlain(RunInAllServers, PlainBase):
        async def start(self) -> None:  # type: ignore[override]
            pass

        async def stop(self) -> None:
            pass

    class PlainPlain(PlainBase):
        async def start(self) -> None:  # type: ignore[override]
            pass

        async def stop(self) -> None:
            pass

    mine = {MarkedLoop, PlainLoop, MarkedPlain, PlainPlain}

    def only_mine(classes: object) -> list[type[Service]]:
        assert isinstance(classes, list | tuple)
        return [c for c in classes if c in mine]

    assert only_mine(Service.all_services()) == [MarkedLoop, PlainLoop, MarkedPlain, PlainPlain]
    assert only_mine(RunInAllServers.all_services()) == [MarkedLoop, MarkedPlain]
    assert only_mine(LoopService.all_services()) == [MarkedLoop, PlainLoop]
    assert RunInAllServers not in Service.all_services()
    assert LoopService not in Service.all_services()


def test_all_services_of_a_marked_abstract_base() -> None:
    class MarkedBase(RunInAllServers, LoopService):
        """Abstract: every service of this base runs in all servers."""

    class One(MarkedBase):
        async def run_once(self) -> None:
            pass

    assert MarkedBase.all_services() == [One]
    assert One in RunInAllServers.all_services()
    assert MarkedBase not in RunInAllServers.all_services()


def test_defining_same_named_classes_never_raises() -> None:
    class Base(LoopService):
        """Abstract: no run_once."""

    twins = []
    for _ in range(3):

        class Twin(Base):
            async def run_once(self) -> None:
                pass

        twins.append(Twin)

    assert Base.all_services() == twins


def test_service_name_and_logger_default_to_the_class_name() -> None:
    class OrderReaper(LoopService):
        async def run_once(self) -> None:
            pass

    svc = OrderReaper()

    assert svc.name == "OrderReaper"
    assert isinstance(svc.logger, logging.Logger)
    assert svc.logger.name == "servicedeck.services.OrderReaper"


def test_service_name_attribute_overrides_the_class_name() -> None:
    class OrderReaper(LoopService):
        name = "reaper"

        async def run_once(self) -> None:
            pass

    svc = OrderReaper()

    assert svc.name == "reaper"
    assert svc.logger.name == "servicedeck.services.reaper"
    assert svc.status.name == "reaper"


@pytest.fixture
def twin_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> object:
    """A module in another file that can define a `Twin` service under any base."""
    (tmp_path / "servicedeck_twin_services.py").write_text(
        "def make(base):\n"
        "    class Twin(base):\n"
        "        async def run_once(self):\n"
        "            pass\n"
        "    return Twin\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "servicedeck_twin_services", raising=False)
    module = importlib.import_module("servicedeck_twin_services")
    monkeypatch.setitem(sys.modules, "servicedeck_twin_services", module)
    return module


async def test_running_with_two_services_of_the_same_name_names_both_classes_and_files(
    twin_module: object, tmp_path: Path
) -> None:
    started: list[str] = []

    class Base(LoopService):
        """Abstract: no run_once."""

        loop_seconds = 0

    class Twin(Base):
        async def run_once(self) -> None:
            started.append("here")

    other = twin_module.make(Base)  # type: ignore[attr-defined]

    with anyio.fail_after(WAIT_TIMEOUT), pytest.raises(DuplicateServiceError) as caught:
        async with Base.running():
            pytest.fail("services with duplicate names were started")

    message = str(caught.value)
    assert "'Twin'" in message
    assert Twin.__qualname__ in message
    assert other.__qualname__ in message
    assert __file__ in message
    assert str(tmp_path / "servicedeck_twin_services.py") in message
    assert isinstance(caught.value, ValueError)
    assert started == []


async def test_running_with_two_services_given_the_same_name_raises() -> None:
    class Base(LoopService):
        """Abstract: no run_once."""

    class First(Base):
        name = "reaper"

        async def run_once(self) -> None:
            pass

    class Second(Base):
        name = "reaper"

        async def run_once(self) -> None:
            pass

    with pytest.raises(DuplicateServiceError, match=r"First.*Second"):
        async with Base.running():
            pytest.fail("services with duplicate names were started")


async def test_run_multiple_services_with_the_same_name_raises_before_starting_any() -> None:
    class Base(LoopService):
        """Abstract: no run_once."""

        loop_seconds = 0

    def make() -> type[Base]:
        class Twin(Base):
            async def run_once(self) -> None:
                pytest.fail("a service with a duplicate name was started")

        return Twin

    services = [make()(), make()()]

    with anyio.fail_after(WAIT_TIMEOUT), pytest.raises(DuplicateServiceError, match="Twin"):
        await run_multiple_services(services)

    assert [s.status.loop_count for s in services] == [0, 0]
