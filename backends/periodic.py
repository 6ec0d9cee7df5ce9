"""A step a backend runs every few seconds beside the requests, until closed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

__all__ = ["PeriodicTask"]


class PeriodicTask:
    """Runs `step` every `interval` seconds on a task of its own.

    `step` handles its own errors: one that escapes ends the task. An
    `interval` of 0 or less never starts it.
    """

    def __init__(
        self, step: Callable[[], Awaitable[None]], *, interval: float, name: str
    ) -> None:
        self._step = step
        self._interval = interval
        self._name = name
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None and self._interval > 0:
            self._task = asyncio.create_task(self._loop(), name=self._name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            if _is_cancelling():
                raise  # the caller's own cancellation

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self._step()


def _is_cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
