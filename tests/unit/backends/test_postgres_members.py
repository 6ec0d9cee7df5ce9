"""The per-group queue of the Postgres backend's member changes (no server needed)."""

from __future__ import annotations

import asyncio

import pytest

from scim_gateway.backends.postgres_members import GroupQueues


async def test_turns_of_one_group_come_one_at_a_time_in_arrival_order() -> None:
    queues = GroupQueues()
    inside: list[int] = []
    order: list[int] = []

    async def take(number: int) -> None:
        async with queues.turn("acme", "g"):
            inside.append(number)
            assert len(inside) == 1
            await asyncio.sleep(0)
            order.append(number)
            inside.remove(number)

    await asyncio.gather(*(take(n) for n in range(5)))

    assert order == [0, 1, 2, 3, 4]
    assert len(queues) == 0


async def test_turns_of_other_groups_and_tenants_do_not_wait() -> None:
    queues = GroupQueues()

    async with queues.turn("acme", "g"):
        async with queues.turn("acme", "h"), queues.turn("globex", "g"):
            assert len(queues) == 3

    assert len(queues) == 0


async def test_a_failed_or_cancelled_turn_leaves_no_queue_behind() -> None:
    queues = GroupQueues()
    holding = asyncio.Event()
    release = asyncio.Event()

    async def hold() -> None:
        async with queues.turn("acme", "g"):
            holding.set()
            await release.wait()

    holder = asyncio.create_task(hold())
    await holding.wait()
    waiter = asyncio.create_task(_wait_a_turn(queues))
    await asyncio.sleep(0)
    waiter.cancel()
    release.set()
    await holder
    with pytest.raises(asyncio.CancelledError):
        await waiter
    with pytest.raises(RuntimeError):
        async with queues.turn("acme", "g"):
            raise RuntimeError("boom")

    assert len(queues) == 0


async def _wait_a_turn(queues: GroupQueues) -> None:
    async with queues.turn("acme", "g"):
        pass
