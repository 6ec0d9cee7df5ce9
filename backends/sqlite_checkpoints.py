"""Copying the WAL back into the database file, beside the writer.

In WAL mode every commit appends the pages it changed to the `-wal` file, and
a checkpoint copies them back into the database file, then syncs it. SQLite
runs that checkpoint itself inside the commit that crosses its threshold, on
the writer's connection: with a thousand creates a second, one commit in a
few hundred then held the write lock for the whole copy and its `fsync`
(30 ms to 450 ms on the benchmark's machine), and every waiting write stalled
behind it. The writer therefore checkpoints never (`wal_autocheckpoint = 0`),
and a connection of its own checkpoints a few times a second, `PASSIVE`: it
copies what is committed without taking the write lock, and writers go on
appending meanwhile.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TypeVar

from scim_gateway.backends.periodic import PeriodicTask

__all__ = ["CHECKPOINT_INTERVAL", "Checkpointer", "checkpoint"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
Run = Callable[[Callable[[sqlite3.Connection], T]], Awaitable[T]]

# Seconds between checks; a WAL then holds what is written in that time.
CHECKPOINT_INTERVAL = 0.25
# Pages the WAL may hold before a checkpoint starts it over (about 16 MB).
RESTART_FRAMES = 4_000


def checkpoint(connection: sqlite3.Connection, *, last: int | None) -> int:
    """A passive checkpoint if the file changed since `last`; the data version."""
    version = int(connection.execute("PRAGMA data_version").fetchone()[0])
    if version == last:
        return version
    busy, frames, copied = connection.execute(
        "PRAGMA wal_checkpoint(PASSIVE)"
    ).fetchone()
    if frames > RESTART_FRAMES:
        # Writers append while a passive checkpoint copies, so the WAL is
        # never all copied when the next write begins, and SQLite only starts
        # it over from the top then: it would grow for ever. With nearly all
        # of it copied already, a restart holds writers for the rest only.
        busy, frames, copied = connection.execute(
            "PRAGMA wal_checkpoint(RESTART)"
        ).fetchone()
    logger.debug("sqlite.checkpoint busy=%s frames=%s copied=%s", busy, frames, copied)
    return version


class Checkpointer:
    """Runs `checkpoint` on its own connection every `interval` seconds."""

    def __init__(self, run: Run[int], *, interval: float = CHECKPOINT_INTERVAL):
        self._run = run
        self._last: int | None = None
        self._is_failing = False
        self._task = PeriodicTask(
            self._checkpoint, interval=interval, name="sqlite-checkpoints"
        )

    def start(self) -> None:
        self._task.start()

    async def stop(self) -> None:
        await self._task.stop()

    async def _checkpoint(self) -> None:
        try:
            self._last = await self._run(partial(checkpoint, last=self._last))
        except Exception as exc:
            # The next round tries again; until then the WAL grows. One line
            # per outage, not four a second.
            if not self._is_failing:
                logger.warning("sqlite.checkpoint_failed error=%s", exc)
            self._is_failing = True
        else:
            if self._is_failing:
                logger.info("sqlite.checkpoint_recovered")
            self._is_failing = False
