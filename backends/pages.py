"""Anchors: where pages in creation order start, kept by the SQL backends.

`OFFSET` makes a database step through every row it skips. A backend that
knows the `seq` of every `spacing`-th match of a list in creation order
(`r.seq`) starts a page at offset O from the anchor below O instead, and
skips fewer than `spacing` rows. When anchors may be trusted is each
backend's own affair (`sqlite_pages`, `postgres_pages`).
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass

__all__ = ["Anchors"]


@dataclass(frozen=True)
class Anchors:
    """The matches of one statement: how many, and every `spacing`-th `seq`."""

    total: int
    spacing: int
    seqs: array[int]

    def start(self, offset: int) -> tuple[int, int] | None:
        """The anchor at or below match `offset` (0-based) and the rows left to
        skip from it; None when `offset` is past the last match."""
        if offset >= self.total:
            return None
        index = offset // self.spacing
        return self.seqs[index], offset - index * self.spacing
