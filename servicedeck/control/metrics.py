"""Prometheus metrics of a `ServiceControl`, read from its snapshots at scrape time.

    ServiceCollector    a prometheus-client collector: register it in any registry
    DurationHistograms  cumulative loop-duration histograms, folded from snapshots

Every series has the label `service`:

    servicedeck_service_loops_total              counter  loops run (failed ones too)
    servicedeck_service_errors_total             counter  loops that raised
    servicedeck_service_overruns_total           counter  loops longer than the interval
    servicedeck_service_stalls_total             counter  times it blocked the event loop
    servicedeck_service_loop_duration_seconds    histogram  how long its loops took
    servicedeck_service_state                    gauge    1 for its state (label `state`), else 0
    servicedeck_service_up                       gauge    1 when its health verdict is healthy

With several replicas (a coordinator), for each leased service:

    servicedeck_service_lease_role               gauge    1 for its role here (label `role`)
    servicedeck_service_lease_epoch              gauge    the lease's epoch, as last seen
    servicedeck_service_lease_transitions_total  counter  times this process became or
                                                          stopped being its leader

The counters and gauges cost nothing between scrapes: `collect()` reads one snapshot per
service. A histogram needs every loop's duration, and a snapshot holds only the last
few (`ServiceStatus.recent_durations`, 32): `DurationHistograms` folds the loops it has
not seen yet from each snapshot it is shown, at each scrape and, while the endpoint's
change feed runs, at each of its updates (every 250 ms per changing service). That is
exact up to 128 loops a second per service; beyond that the durations seen stand for
the ones missed, so the histogram's count always equals the loops counter.

Use it in your own registry:

    from prometheus_client import REGISTRY
    REGISTRY.register(ServiceCollector(controller))
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from servicedeck.control import Health, LeaseRole, ServiceControl, ServiceSnapshot, ServiceState

__all__ = ["BUCKETS", "DurationHistograms", "ServiceCollector"]

BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
"""Upper bounds of the loop-duration buckets, in seconds (+Inf is added)."""


@dataclass
class _Histogram:
    counts: list[int]
    total: float = 0.0
    loops: int = 0
    """The service's loop count when last folded."""


class DurationHistograms:
    """Cumulative loop-duration histograms per service, folded from snapshots.

    Args:
        buckets: upper bounds in seconds, ascending (+Inf is added).
    """

    def __init__(self, buckets: Sequence[float] = BUCKETS) -> None:
        self.buckets = tuple(float(b) for b in buckets if b != math.inf)
        self._histograms: dict[str, _Histogram] = {}

    def fold(self, snapshots: Iterable[ServiceSnapshot]) -> None:
        """Count the loops each snapshot shows that were not counted yet."""
        for snap in snapshots:
            status = snap.status
            histogram = self._histograms.get(snap.name)
            if histogram is None:
                histogram = self._histograms[snap.name] = _Histogram([0] * (len(self.buckets) + 1))
            new = status.loop_count - histogram.loops
            if new < 0:
                # The service's counters began again (a new instance): so does its series.
                histogram.counts = [0] * (len(self.buckets) + 1)
                histogram.total = 0.0
                new = status.loop_count
            histogram.loops = status.loop_count
            durations = status.recent_durations[-new:] if new else ()
            if not durations:
                continue
            # When more loops ran than the snapshot remembers, the ones it holds stand for
            # all of them (each counts for `new / len` loops, whole loops apportioned).
            share, extra = divmod(new, len(durations))
            for index, duration in enumerate(durations):
                weight = share + (1 if index < extra else 0)
                histogram.counts[bisect.bisect_left(self.buckets, duration)] += weight
                histogram.total += duration * weight

    def series(self, name: str) -> tuple[list[tuple[str, float]], float]:
        """The cumulative `(le, count)` buckets of service `name` (with `+Inf`), and the sum."""
        histogram = self._histograms.get(name)
        counts = histogram.counts if histogram else [0] * (len(self.buckets) + 1)
        cumulative = 0
        buckets: list[tuple[str, float]] = []
        for bound, count in zip((*self.buckets, math.inf), counts, strict=True):
            cumulative += count
            buckets.append(("+Inf" if bound == math.inf else repr(bound), cumulative))
        return buckets, histogram.total if histogram else 0.0


class ServiceCollector(Collector):
    """Reads the services of `control` at each scrape (see the module docstring).

    Args:
        control: the services to report.
        histograms: where loop durations accumulate (default: a new one, folded at
            each scrape; the endpoint shares its own with its change feed).
    """

    def __init__(
        self, control: ServiceControl, histograms: DurationHistograms | None = None
    ) -> None:
        self.control = control
        self.histograms = histograms or DurationHistograms()

    def describe(self) -> Iterable[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        """The metric names, without samples (so registering reads no snapshot)."""
        return [*self._families(), *_lease_families()]

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        """Every metric, from one snapshot of each service."""
        snapshots = self.control.snapshots()
        self.histograms.fold(snapshots)
        loops, errors, overruns, stalls, duration, state, up = self._families()
        role, epoch, transitions = _lease_families()
        states = [s.value for s in ServiceState]
        roles = [r.value for r in LeaseRole]
        for snap in snapshots:
            status, labels = snap.status, [snap.name]
            loops.add_metric(labels, status.loop_count)
            errors.add_metric(labels, status.error_count)
            overruns.add_metric(labels, status.overrun_count)
            stalls.add_metric(labels, snap.stall_count)
            if snap.is_loop:
                buckets, total = self.histograms.series(snap.name)
                duration.add_metric(labels, buckets, total)
            for value in states:
                state.add_metric([snap.name, value], 1.0 if status.state.value == value else 0.0)
            up.add_metric(labels, 1.0 if snap.health is Health.HEALTHY else 0.0)
            lease = status.lease
            if lease is not None:
                for value in roles:
                    role.add_metric([snap.name, value], 1.0 if lease.role.value == value else 0.0)
                if lease.lease is not None:
                    epoch.add_metric(labels, lease.lease.epoch)
                transitions.add_metric(labels, lease.transitions)
        yield from (loops, errors, overruns, stalls, duration, state, up)
        yield from (role, epoch, transitions)

    @staticmethod
    def _families() -> tuple[
        CounterMetricFamily,
        CounterMetricFamily,
        CounterMetricFamily,
        CounterMetricFamily,
        HistogramMetricFamily,
        GaugeMetricFamily,
        GaugeMetricFamily,
    ]:
        service = ["service"]
        return (
            CounterMetricFamily(
                "servicedeck_service_loops_total", "Loops run (failed ones too).", labels=service
            ),
            CounterMetricFamily(
                "servicedeck_service_errors_total", "Loops that raised.", labels=service
            ),
            CounterMetricFamily(
                "servicedeck_service_overruns_total",
                "Loops that took longer than the interval.",
                labels=service,
            ),
            CounterMetricFamily(
                "servicedeck_service_stalls_total",
                "Times the service's synchronous code blocked the event loop.",
                labels=service,
            ),
            HistogramMetricFamily(
                "servicedeck_service_loop_duration_seconds",
                "How long loops took.",
                labels=service,
            ),
            GaugeMetricFamily(
                "servicedeck_service_state",
                "1 for the state the service is in, 0 for the others.",
                labels=["service", "state"],
            ),
            GaugeMetricFamily(
                "servicedeck_service_up",
                "1 when the service's health verdict is healthy, else 0.",
                labels=service,
            ),
        )


def _lease_families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, CounterMetricFamily]:
    """The lease's series: only services run under a coordinator have samples."""
    return (
        GaugeMetricFamily(
            "servicedeck_service_lease_role",
            "1 for the service's lease role in this process, 0 for the others.",
            labels=["service", "role"],
        ),
        GaugeMetricFamily(
            "servicedeck_service_lease_epoch",
            "The epoch (fencing token) of the service's lease, as last seen.",
            labels=["service"],
        ),
        CounterMetricFamily(
            "servicedeck_service_lease_transitions_total",
            "Times this process became, or stopped being, the service's leader.",
            labels=["service"],
        ),
    )
