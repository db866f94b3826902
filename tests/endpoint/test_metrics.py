"""`/metrics`: Prometheus text read from the snapshots, and the duration histograms."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from support import wait_until
from support.records import loop_snapshot
from support.served import Busy, Failing, Quiet, serving

from servicedeck.control import ServiceSnapshot, ServiceState
from servicedeck.control.metrics import BUCKETS, DurationHistograms

pytestmark = pytest.mark.anyio


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample, by name and sorted labels."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_metrics_follow_prometheus_naming_and_read_every_service(short_dir: Path) -> None:
    async with serving([Quiet, Failing], short_dir) as served:
        controller = served.controller
        await controller.step("Quiet", 2)
        await wait_until(controller, lambda: controller.snapshot("Failing").status.error_count > 0)

        response = await served.client.get("/metrics")

        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        found = samples(response.text)
        quiet, failing = (("service", "Quiet"),), (("service", "Failing"),)
        assert found["servicedeck_service_loops_total", quiet] == 3
        assert found["servicedeck_service_errors_total", failing] == 1
        assert found["servicedeck_service_overruns_total", quiet] == 0
        assert found["servicedeck_service_stalls_total", quiet] == 0
        assert found["servicedeck_service_up", quiet] == 1
        assert found["servicedeck_service_up", failing] == 0
        state = controller.snapshot("Quiet").status.state.value
        for value in ServiceState:
            labels = (("service", "Quiet"), ("state", value.value))
            assert found["servicedeck_service_state", labels] == (value.value == state)
        # The histogram counts every loop, and its count is the loops counter.
        count = found["servicedeck_service_loop_duration_seconds_count", quiet]
        assert count == found["servicedeck_service_loops_total", quiet]
        inf = (("le", "+Inf"), ("service", "Quiet"))
        assert found["servicedeck_service_loop_duration_seconds_bucket", inf] == count
        names = {name for name, _ in found}
        assert all(name.startswith("servicedeck_service_") for name in names)


async def test_metrics_histogram_keeps_up_with_a_fast_service_between_scrapes(
    short_dir: Path,
) -> None:
    async with serving([Busy], short_dir) as served:
        controller = served.controller
        await served.client.get("/metrics")  # the first scrape starts folding as it goes
        # Far more loops than one snapshot remembers (32) run before the next scrape.
        await wait_until(controller, lambda: controller.snapshot("Busy").status.loop_count > 500)

        found = samples((await served.client.get("/metrics")).text)

        busy = (("service", "Busy"),)
        loops = found["servicedeck_service_loops_total", busy]
        assert found["servicedeck_service_loop_duration_seconds_count", busy] == loops
        assert found["servicedeck_service_loop_duration_seconds_sum", busy] > 0


def status(loop_count: int, durations: tuple[float, ...]) -> ServiceSnapshot:
    return loop_snapshot(loop_count=loop_count, recent_durations=durations)


def test_histograms_fold_each_loop_once() -> None:
    histograms = DurationHistograms()

    histograms.fold([status(2, (0.002, 0.2))])
    histograms.fold([status(2, (0.002, 0.2))])  # nothing new
    histograms.fold([status(3, (0.002, 0.2, 7.0))])  # one new loop: the last duration

    buckets, total = histograms.series("Reaper")
    counts = dict(buckets)
    assert counts["0.0025"] == 1
    assert counts["0.25"] == 2
    assert counts["10.0"] == 3
    assert counts["+Inf"] == 3
    assert total == pytest.approx(7.202)


def test_histograms_let_the_durations_seen_stand_for_loops_missed() -> None:
    histograms = DurationHistograms()

    # 100 loops ran, the snapshot remembers 4 of them: each stands for 25.
    histograms.fold([status(100, (0.001, 0.001, 0.5, 0.5))])

    buckets, total = histograms.series("Reaper")
    assert dict(buckets)["0.001"] == 50
    assert dict(buckets)["+Inf"] == 100
    assert total == pytest.approx(50 * 0.001 + 50 * 0.5)


def test_histograms_start_again_when_the_counters_do() -> None:
    histograms = DurationHistograms()
    histograms.fold([status(10, (0.5,) * 10)])

    histograms.fold([status(1, (0.001,))])  # a new instance: counters from 0

    buckets, _ = histograms.series("Reaper")
    assert dict(buckets)["+Inf"] == 1
    assert len(buckets) == len(BUCKETS) + 1


class Snapshots:
    """A `ServiceControl` as far as the collector reads one: its snapshots."""

    def __init__(self, *snapshots: ServiceSnapshot) -> None:
        self._snapshots = list(snapshots)

    def snapshots(self) -> list[ServiceSnapshot]:
        return self._snapshots


def test_metrics_of_leased_services_say_the_role_epoch_and_transitions() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from servicedeck.control import Lease, LeaseRole, LeaseStatus
    from servicedeck.control.metrics import ServiceCollector

    elsewhere = Lease("Reaper", "host-b:4242", 7, 1.7e9)
    registry = CollectorRegistry()
    registry.register(
        ServiceCollector(
            Snapshots(  # type: ignore[arg-type]
                loop_snapshot("Reaper", lease=LeaseStatus(LeaseRole.STANDBY, elsewhere, 3)),
                loop_snapshot("Cache"),  # RunInAllServers, or no coordinator: no lease series
            )
        )
    )

    found = samples(generate_latest(registry).decode())

    reaper = (("service", "Reaper"),)
    for role in LeaseRole:
        labels = (("role", role.value), ("service", "Reaper"))
        assert found["servicedeck_service_lease_role", labels] == (role is LeaseRole.STANDBY)
    assert found["servicedeck_service_lease_epoch", reaper] == 7
    assert found["servicedeck_service_lease_transitions_total", reaper] == 3
    assert not [
        key
        for key in found
        if key[0].startswith("servicedeck_service_lease") and ("service", "Cache") in key[1]
    ]
