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

__all__ = ["ANCHOR_SPACING", "MAX_ANCHORS", "Anchors", "PageCache"]

ANCHOR_SPACING = 256
MAX_ANCHORS = 1024
_BATCH = 4096

Key = tuple[str, tuple[object, ...]]


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
        scan_sql: str,
        params: Sequence[object],
    ) -> Anchors:
        """The anchors of the statement `key`, from `scan_sql` (every match's
        `seq`, in order) when not kept; its total is kept under `key` too."""
        found = self._entries.get(key)
        if isinstance(found, Anchors):
            return found
        anchors = _scan(connection.execute(scan_sql, params))
        self._keep(key, anchors)
        return anchors

    def _keep(self, key: Key, entry: int | Anchors) -> None:
        if key not in self._entries and len(self._entries) >= self._size:
            self._entries.clear()
        self._entries[key] = entry


def _scan(cursor: sqlite3.Cursor) -> Anchors:
    seqs: array[int] = array("q")
    total = 0
    while rows := cursor.fetchmany(_BATCH):
        first = -total % ANCHOR_SPACING
        seqs.extend(row[0] for row in rows[first::ANCHOR_SPACING])
        total += len(rows)
    spacing = ANCHOR_SPACING
    # Millions of matches: coarser anchors keep the memory of one statement
    # bounded, for a longer skip from each.
    while len(seqs) > MAX_ANCHORS:
        seqs = seqs[::2]
        spacing *= 2
    return Anchors(total, spacing, seqs)
