"""Lease semantics, one suite for every engine (PostgreSQL, Redis, SQLite), each real.

Acquire, renew, expire, steal, release and fence, through the public coordinator API.
Time passes for real here (a lease must expire on the engine's clock), so the timings
are short (`FAST`) and every wait is on an event, bounded by a deadline.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest

from servicedeck import Lease
from servicedeck.coordinate import (
    LeaseCoordinator,
    LeaseTimings,
    StaleLeaseError,
    connect,
)

from .conftest import FAST, Engine

pytestmark = pytest.mark.anyio

DEADLINE = 10.0


class Watch:
    """What a `leadership()` block saw: leases observed, and when."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, Lease | None]] = []
        self.changed = anyio.Event()

    def __call__(self, lease: Lease | None) -> None:
        self.seen.append((anyio.current_time(), lease))
        self.changed.set()
        self.changed = anyio.Event()

    async def until(self, condition: Callable[[Lease | None], bool]) -> Lease | None:
        with anyio.fail_after(DEADLINE):
            while not (self.seen and condition(self.seen[-1][1])):
                await self.changed.wait()
        return self.seen[-1][1]


def coordinator(engine: Engine, holder: str, timings: LeaseTimings = FAST) -> LeaseCoordinator:
    return connect(engine.url, timings=timings, holder=holder)


async def test_leases_a_free_lease_is_granted_with_epoch_1(engine_under_test: Engine) -> None:
    async with coordinator(engine_under_test, "a:1") as a:
        with anyio.fail_after(DEADLINE):
            async with a.leadership("Reaper") as lease:
                assert (lease.name, lease.holder, lease.epoch) == ("Reaper", "a:1", 1)


async def test_leases_a_standby_waits_and_sees_the_holder(engine_under_test: Engine) -> None:
    entered = anyio.Event()
    watch = Watch()
    async with (
        coordinator(engine_under_test, "a:1") as a,
        coordinator(engine_under_test, "b:1") as b,
        anyio.create_task_group() as tg,
    ):
        async with a.leadership("Reaper"):

            async def stand_by() -> None:
                async with b.leadership("Reaper", watch):
                    entered.set()

            tg.start_soon(stand_by)
            seen = await watch.until(lambda lease: lease is not None)
            assert seen is not None
            assert (seen.holder, seen.epoch) == ("a:1", 1)
            assert not entered.is_set()
        # Released on exit: b takes over, at the next epoch.
        with anyio.fail_after(DEADLINE):
            await entered.wait()


async def test_leases_renewals_keep_a_lease_past_its_duration(engine_under_test: Engine) -> None:
    renewals = Watch()
    taken = anyio.Event()
    async with (
        coordinator(engine_under_test, "a:1") as a,
        coordinator(engine_under_test, "b:1") as b,
        anyio.create_task_group() as tg,
    ):
        async with a.leadership("Reaper", renewals) as first:

            async def stand_by() -> None:
                async with b.leadership("Reaper"):
                    taken.set()

            tg.start_soon(stand_by)
            # Renewed until the lease reaches past twice its first expiry.
            await renewals.until(
                lambda lease: (
                    lease is not None and lease.expires >= first.expires + FAST.lease + FAST.renew
                )
            )
            assert not taken.is_set()
            assert all(lease is not None and lease.epoch == 1 for _, lease in renewals.seen)
        tg.cancel_scope.cancel()


async def test_leases_an_expired_lease_goes_to_the_next_holder_at_the_next_epoch(
    engine_under_test: Engine,
) -> None:
    # A holder that dies: it takes the lease and never renews or releases it.
    async with coordinator(engine_under_test, "ghost:1") as ghost:
        found = await ghost._acquire(["Reaper"])
    assert found["Reaper"][1]
    taken_at = anyio.current_time()
    async with coordinator(engine_under_test, "b:1") as b:
        with anyio.fail_after(DEADLINE):
            async with b.leadership("Reaper") as lease:
                waited = anyio.current_time() - taken_at
    assert (lease.holder, lease.epoch) == ("b:1", 2)
    # Not before the ghost's lease expired on the engine's clock.
    assert waited >= FAST.lease - 0.1


async def test_leases_a_release_hands_over_at_once(engine_under_test: Engine) -> None:
    # PostgreSQL and Redis announce releases: a standby polling every 30 s still takes
    # over at once. SQLite cannot announce; its standby polls.
    polling = 0.1 if engine_under_test.name == "sqlite" else 30.0
    slow = LeaseTimings(lease=FAST.lease, renew=FAST.renew, deadline=FAST.deadline, poll=polling)
    watch = Watch()
    taken = anyio.Event()
    epochs: list[int] = []
    async with (
        coordinator(engine_under_test, "a:1", slow) as a,
        coordinator(engine_under_test, "b:1", slow) as b,
        anyio.create_task_group() as tg,
    ):

        async def stand_by() -> None:
            async with b.leadership("Reaper", watch) as lease:
                epochs.append(lease.epoch)
                taken.set()

        async with a.leadership("Reaper") as held:
            epochs.append(held.epoch)
            tg.start_soon(stand_by)
            await watch.until(lambda lease: lease is not None)
        released = anyio.current_time()
        with anyio.fail_after(DEADLINE):
            await taken.wait()
        handover = anyio.current_time() - released
    assert epochs == [1, 2]
    assert handover < 1.0, handover


async def test_leases_a_taken_over_lease_cancels_the_block(engine_under_test: Engine) -> None:
    async with coordinator(engine_under_test, "a:1") as a:
        with anyio.fail_after(DEADLINE):
            async with a.leadership("Reaper"):
                engine_under_test.steal("Reaper")
                await anyio.sleep_forever()  # cancelled by the coordinator at its renewal
        # The block ended by itself, and the lease is the thief's.
        found = await a._acquire(["Reaper"])
        lease, taken = found["Reaper"]
        assert lease is not None
        assert (lease.holder, taken) == ("thief:1", False)


async def test_leases_a_renewal_missing_the_deadline_steps_down_before_expiry(
    engine_under_test: Engine,
) -> None:
    renewals = Watch()
    async with coordinator(engine_under_test, "a:1") as a:
        with anyio.fail_after(DEADLINE):
            async with a.leadership("Reaper", renewals):
                await renewals.until(lambda lease: lease is not None)
                with engine_under_test.writes_blocked():
                    last_renewal = renewals.seen[-1][0]
                    try:
                        await anyio.sleep_forever()
                    finally:
                        stepped_down = anyio.current_time()
    # The renewal was sent a little before it was seen: the deadline counts from there.
    assert stepped_down - last_renewal <= FAST.deadline + 0.2
    assert stepped_down - last_renewal < FAST.lease


async def test_leases_the_fence_refuses_a_write_after_a_takeover(
    engine_under_test: Engine,
) -> None:
    async with coordinator(engine_under_test, "a:1") as a, engine_under_test.store() as store:
        with anyio.fail_after(DEADLINE):
            async with a.leadership("Reaper") as lease:
                await engine_under_test.fenced_write(store, lease, "first")
                engine_under_test.steal("Reaper")
                with pytest.raises(StaleLeaseError, match="'Reaper' of a:1 at epoch 1"):
                    await engine_under_test.fenced_write(store, lease, "stale")
                await anyio.sleep_forever()  # the renewal notices and ends the block
        assert await engine_under_test.written(store) == ["first"]


async def test_leases_polls_and_renewals_are_one_round_trip_for_every_lease(
    engine_under_test: Engine,
) -> None:
    names = [f"Service{i}" for i in range(50)]
    calls: dict[str, int] = {"_acquire": 0, "_renew": 0}
    renewals = Watch()
    async with coordinator(engine_under_test, "a:1") as a:
        for method in calls:
            original = getattr(a, method)

            async def counted(*args: Any, _original: Any = original, _name: str = method) -> Any:
                calls[_name] += 1
                return await _original(*args)

            setattr(a, method, counted)
        held = 0
        all_held = anyio.Event()
        async with anyio.create_task_group() as tg:
            for name in names:

                async def lead(name: str = name) -> None:
                    nonlocal held
                    async with a.leadership(name, renewals if name == "Service0" else None):
                        held += 1
                        if held == len(names):
                            all_held.set()
                        await anyio.sleep_forever()

                tg.start_soon(lead)
            with anyio.fail_after(DEADLINE):
                await all_held.wait()
            await renewals.until(lambda lease: True)  # the first renewal
            tg.cancel_scope.cancel()
    assert calls == {"_acquire": 1, "_renew": 1}


async def test_leases_leadership_needs_an_entered_coordinator(tmp_path: Any) -> None:
    coordinator = connect(f"sqlite:///{tmp_path}/leases.db")
    with pytest.raises(RuntimeError, match="enter the coordinator first"):
        async with coordinator.leadership("Reaper"):
            pass
