"""What a SQLite reader keeps between list requests: totals and page anchors.

Counting every match for `totalResults` costs more than a page, and so does
`OFFSET`, which SQLite steps through row by row, evaluating the filter on
each. A reader therefore keeps, per list statement, the number of matches
and, for the default order (creation order, `r.seq`), the `seq` of every
`spacing`-th match: a page at offset O then starts at the anchor below O
and skips fewer than `spacing` rows. Both are kept only while
`PRAGMA data_version` says nothing was written to the file.
"""

from __future__ import annotations

import sqlite3
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["ANCHOR_SPACING", "MAX_ANCHORS", "Anchors", "PageCache", "Walk"]

ANCHOR_SPACING = 256
MAX_ANCHORS = 1024
_LOWEST = -(2**63)

Key = tuple[str, tuple[object, ...]]


@dataclass(frozen=True)
class Walk:
    """The statements that find anchors, both taking the filter's parameters.

    `step_sql` is the `seq` of the match that lies a number of matches after
    the first match at or after a `seq` (two more parameters: that `seq` and
    the number); `tail_sql` counts the matches at or after a `seq`.
    """

    step_sql: str
    tail_sql: str


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


class PageCache:
    """Totals and anchors of list statements, kept while the file is unchanged.

    SQLite changes `PRAGMA data_version` whenever another connection commits.
    Read as the first statement of a read transaction, it is the version of
    that transaction's snapshot, so what is kept always describes the data
    the page is read from. One cache belongs to one connection; it holds at
    most `size` statements, each with at most `MAX_ANCHORS` anchors.
    """

    def __init__(self, *, size: int = 64) -> None:
        self._size = size
        self._version: int | None = None
        self._entries: dict[Key, int | Anchors] = {}

    def check(self, connection: sqlite3.Connection) -> None:
        """Forget everything if the file changed; call first in the transaction."""
        version = connection.execute("PRAGMA data_version").fetchone()[0]
        if version != self._version:
            self._entries.clear()
            self._version = version

    def total(
        self, connection: sqlite3.Connection, sql: str, params: Sequence[object]
    ) -> int:
        """The count of `sql` (a `SELECT count(*)`), counted once per version."""
        key = (sql, tuple(params))
        found = self._entries.get(key)
        if found is None:
            found = int(connection.execute(sql, params).fetchone()[0])
            self._keep(key, found)
        return found if isinstance(found, int) else found.total

    def anchors(
        self,
        connection: sqlite3.Connection,
        key: Key,
        walk: Walk,
        params: Sequence[object],
    ) -> Anchors:
        """The anchors of the statement `key`, walked when not kept; its total
        is kept under `key` too."""
        found = self._entries.get(key)
        if isinstance(found, Anchors):
            return found
        anchors = _walk(connection, walk, params)
        self._keep(key, anchors)
        return anchors

    def _keep(self, key: Key, entry: int | Anchors) -> None:
        if key not in self._entries and len(self._entries) >= self._size:
            self._entries.clear()
        self._entries[key] = entry


def _walk(
    connection: sqlite3.Connection, walk: Walk, params: Sequence[object]
) -> Anchors:
    # Each step skips `spacing` matches inside SQLite, so the walk costs about
    # one count of the matches, not a Python loop over each of them.
    seqs: array[int] = array("q")
    spacing = ANCHOR_SPACING
    seq = _step(connection, walk, params, _LOWEST, 0)
    while seq is not None:
        seqs.append(seq)
        if len(seqs) > MAX_ANCHORS:
            # Millions of matches: coarser anchors bound the memory of one
            # statement, for a longer skip from each.
            seqs, spacing = seqs[::2], spacing * 2
        seq = _step(connection, walk, params, seqs[-1], spacing)
    if not seqs:
        return Anchors(0, spacing, seqs)
    tail = connection.execute(walk.tail_sql, [*params, seqs[-1]]).fetchone()[0]
    return Anchors((len(seqs) - 1) * spacing + int(tail), spacing, seqs)


def _step(
    connection: sqlite3.Connection,
    walk: Walk,
    params: Sequence[object],
    seq: int,
    skip: int,
) -> int | None:
    row = connection.execute(walk.step_sql, [*params, seq, skip]).fetchone()
    return None if row is None else int(row[0])
