"""The headless run behind `servicedeck run`: a `ServiceControl` until a signal.

SIGINT, SIGTERM or SIGHUP stops every service gracefully (`stop_all()`, teardown runs),
naming those still stopping meanwhile, then reports each one's outcome and time; a second
signal during that stop calls `force()`, which ends the process at once. If every service
ends by itself (crashed, or a non-loop service returned), the run ends too.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import AsyncIterator, Callable, Sequence
from typing import NoReturn

import anyio

from servicedeck.control import ServiceControl, ServiceState, ServiceStop, StopReport

__all__ = ["serve"]

log = logging.getLogger("servicedeck.cli")

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
"""Each stops every service gracefully. SIGHUP too: for a process in the foreground it
means its terminal went away, and its default action would end the process at once,
without teardown, leaving the pid file behind."""


def _names(names: Sequence[str]) -> str:
    return ", ".join(names) if names else "none"


async def _force_on_signal(signals: AsyncIterator[int], force: Callable[[], NoReturn]) -> None:
    async for signum in signals:
        log.warning("Received %s again.", signal.Signals(signum).name)
        force()


PROGRESS_FIRST = 1.0
"""Seconds into a stop after which the services still stopping are named."""
PROGRESS_EVERY = 5.0
"""And then every this many seconds, for as long as any is still running."""


def _timed(stops: Sequence[ServiceStop]) -> str:
    return ", ".join(f"{stop.name} {stop.seconds:.2f} s" for stop in stops)


async def _progress(control: ServiceControl, began: float) -> None:
    """Name the services still stopping, and for how long, until cancelled."""
    wait = PROGRESS_FIRST
    while True:
        await anyio.sleep(wait)
        wait = PROGRESS_EVERY
        running = [s for s in control.snapshots() if s.has_task]
        if running:
            log.info(
                "Still stopping after %.0f s: %s.",
                anyio.current_time() - began,
                ", ".join(
                    f"{s.name} ({'stuck' if s.stuck else s.status.state.value})" for s in running
                ),
            )


def _report(report: StopReport, timeout: float) -> None:
    """Each service's own outcome and stop time; a service stuck is named on its own."""
    by_outcome = {
        outcome: [stop for stop in report.services if stop.outcome == outcome]
        for outcome in ("stopped", "cancelled", "stuck")
    }
    if by_outcome["stopped"]:
        log.info(
            "Stopped %d service(s): %s.", len(by_outcome["stopped"]), _timed(by_outcome["stopped"])
        )
    if by_outcome["cancelled"]:
        log.warning(
            "Cancelled %d service(s) that did not stop within %g s: %s.",
            len(by_outcome["cancelled"]),
            timeout,
            _timed(by_outcome["cancelled"]),
        )
    if by_outcome["stuck"]:
        log.warning(
            "Stuck: %s ignored the cancellation for %g s and still runs; waiting for it "
            "(press Ctrl+C again to exit without waiting).",
            ", ".join(stop.name for stop in by_outcome["stuck"]),
            timeout,
        )
    else:
        log.info("All services stopped in %.2f s.", report.seconds)


async def serve(
    control: ServiceControl,
    stop_timeout: float,
    ready: Callable[[], None],
    force: Callable[[], NoReturn],
) -> int:
    """Run the enabled services of `control` until SIGINT/SIGTERM/SIGHUP; return the exit
    status.

    Args:
        control: the services (not yet entered).
        stop_timeout: seconds each service may take to stop before it is cancelled.
        ready: called once the services are started.
        force: called on a second signal during the graceful stop; must not return.

    Returns:
        0 after a graceful stop, or when every service ended cleanly by itself; 1 when
        no service is enabled, none could start, or every service ended and one crashed.
    """
    # The receiver is open before any service starts, so no signal is ever missed.
    with anyio.open_signal_receiver(*SIGNALS) as signals:
        async with control as controller:
            snapshots = controller.snapshots()
            for snap in snapshots:
                if snap.settings_error is not None:
                    log.error("%s not started: %s", snap.name, snap.settings_error)
                elif snap.enabled is False:
                    log.info("%s is disabled (%s).", snap.name, snap.env_var)
            if not any(snap.enabled for snap in snapshots):
                log.error(
                    "No services are enabled! Enable one with its environment variable "
                    "(see `servicedeck ls`)."
                )
                return 1
            started = await controller.start_enabled()
            if not started:
                log.error("None of the enabled services could start (see the errors above).")
                return 1
            log.info(
                "Started %d service(s): %s. Press Ctrl+C to stop.", len(started), _names(started)
            )
            ready()

            received: list[int] = []
            async with anyio.create_task_group() as waiting:

                async def on_signal() -> None:
                    async for signum in signals:
                        received.append(signum)
                        break
                    waiting.cancel_scope.cancel()

                async def on_all_ended() -> None:
                    await controller.wait_stopped(started)
                    waiting.cancel_scope.cancel()

                waiting.start_soon(on_signal)
                waiting.start_soon(on_all_ended)

            if not received:
                crashed = [  # of those it started: one that never could is not news
                    s.name
                    for s in controller.snapshots()
                    if s.name in started and s.status.state is ServiceState.CRASHED
                ]
                if crashed:
                    log.error("Every service has stopped; crashed: %s. Exiting.", _names(crashed))
                    return 1
                log.info("Every service has finished. Exiting.")
                return 0

            log.info(
                "Received %s: stopping %d service(s) (press Ctrl+C again to force)...",
                signal.Signals(received[0]).name,
                len(started),
            )
            began = anyio.current_time()
            async with anyio.create_task_group() as stopping:
                stopping.start_soon(_force_on_signal, signals, force)
                stopping.start_soon(_progress, controller, began)
                report = await controller.stop_all(stop_timeout)
                _report(report, stop_timeout)
                if report.stuck:
                    await controller.wait_stopped(report.stuck)
                    log.info(
                        "All services stopped in %.2f s (the last, %s, ended by itself).",
                        anyio.current_time() - began,
                        ", ".join(report.stuck),
                    )
                stopping.cancel_scope.cancel()
            return 0
