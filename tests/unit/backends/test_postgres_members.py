"""The per-group queue of the Postgres backend's member changes (no server needed)."""

from __future__ import annotations

import asyncio

import pytest

from scim_gateway.backends.postgres_members import IN_FLIGHT, GroupQueues


async def test_at_most_in_flight_turns_of_one_group_run_at_once() -> None:
    queues = GroupQueues()
    inside: set[int] = set()
    most = 0

    async def take(number: int) -> None:
        nonlocal most
        async with queues.turn("acme", "g"):
            inside.add(number)
            most = max(most, len(inside))
            await asyncio.sleep(0)
            inside.remove(number)

    await asyncio.gather(*(take(n) for n in range(10)))

    assert most == IN_FLIGHT == 2
    assert len(queues) == 0


async def test_turns_of_other_groups_and_tenants_do_not_wait() -> None:
    queues = GroupQueues()

    async with queues.turn("acme", "g"):
        async with queues.turn("acme", "h"), queues.turn("globex", "g"):
            assert len(queues) == 3

    assert len(queues) == 0


async def test_a_failed_or_cancelled_turn_leaves_no_queue_behind() -> None:
    queues = GroupQueues()
    inside = asyncio.Semaphore(0)
    release = asyncio.Event()

    async def hold() -> None:
        async with queues.turn("acme", "g"):
            inside.release()
            await release.wait()

    holders = [asyncio.create_task(hold()) for _ in range(IN_FLIGHT)]
    for _ in holders:
        await inside.acquire()
    waiter = asyncio.create_task(_wait_a_turn(queues))
    await asyncio.sleep(0)
    waiter.cancel()
    release.set()
    await asyncio.gather(*holders)
    with pytest.raises(asyncio.CancelledError):
        await waiter
    with pytest.raises(RuntimeError):
        async with queues.turn("acme", "g"):
            raise RuntimeError("boom")

    assert len(queues) == 0


async def _wait_a_turn(queues: GroupQueues) -> None:
    async with queues.turn("acme", "g"):
        pass
