"""`run_multiple_services`: run several loop services under one signal handler."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Sequence

import anyio

from ._loop import LoopService
from ._service import Caught, check_unique_names, fatal_handler, raise_fatal

__all__ = ["run_multiple_services"]

logger = logging.getLogger("servicedeck")


async def run_multiple_services(loop_services: Sequence[LoopService]) -> None:
    """Run `loop_services` together until all have stopped.

    One SIGINT / SIGTERM handler (installed through anyio, so it works on asyncio and
    trio) stops them all gracefully; the previous handlers are restored on return. A
    service's own `handle_signals` is suspended meanwhile, so that it cannot take the
    signal from the others. A service that crashes is logged and recorded; the others go on.

    A service that raises KeyboardInterrupt, SystemExit or another BaseException ends
    the run: the others are stopped gracefully (their teardown runs), then that exception
    is raised from here, as itself, with a note (PEP 678) naming the service.

    Raises:
        DuplicateServiceError: two of the services share a name.
    """
    check_unique_names(type(s) for s in loop_services)
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.getsignal(sig) for sig in signals}
    in_main = threading.current_thread() is threading.main_thread()

    async def stop_on_signal(*, task_status: anyio.abc.TaskStatus[None]) -> None:
        with anyio.open_signal_receiver(*signals) as received:
            task_status.started()
            async for signum in received:
                logger.info(
                    "received %s, stopping %d services",
                    signal.Signals(signum).name,
                    len(loop_services),
                )
                for service in loop_services:
                    await service.stop(block=False)

    # One handler per signal: a service's own (handle_signals=True) would take the
    # signal from this one and from the others, so theirs are off while this runs.
    own_handlers = [(s, s._servicedeck.handle_signals) for s in loop_services]
    fatal: Caught = []
    try:
        if in_main:
            for service, _ in own_handlers:
                service._servicedeck.handle_signals = False
        async with anyio.create_task_group() as outer:
            if in_main:
                await outer.start(stop_on_signal)
            async with anyio.create_task_group() as tg:
                on_fatal = fatal_handler(loop_services, tg, fatal)
                for service in loop_services:
                    tg.start_soon(service._supervise, on_fatal, name=f"servicedeck:{service.name}")
            outer.cancel_scope.cancel()
    finally:
        for service, handles in own_handlers:
            service._servicedeck.handle_signals = handles
        if in_main:
            for sig, handler in previous.items():
                if handler is not None:
                    signal.signal(sig, handler)
    if fatal:
        raise_fatal(fatal)
