"""What a SQLite reader keeps between list requests: totals, anchors, resources.

Counting every match for `totalResults` costs more than a page, and so does
`OFFSET`, which SQLite steps through row by row, evaluating the filter on
each. A reader therefore keeps, per list statement, the number of matches
and, for the default order (creation order, `r.seq`), its `Anchors`.

It also keeps the resources its pages held, with their groups: a client
that pages through the users again, or many clients listing the same users,
then get the same objects back, along with what the gateway derived from
them (`StoredResource.memo`), instead of rebuilding each from its row and
looking up its groups. Everything is kept only while no resource was
written (a change of members writes its group): `PRAGMA data_version` says
whether anything was committed to the file, and the count in
`resource_changes`, raised by triggers, whether it touched resources.
"""

from __future__ import annotations

import sqlite3
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

from scim_gateway.backends.base import StoredResource
from scim_gateway.backends.pages import Anchors

__all__ = [
    "ANCHOR_SPACING",
    "MAX_ANCHORS",
    "MAX_KEPT_RESOURCES",
    "PageCache",
    "Walk",
]

ANCHOR_SPACING = 256
MAX_ANCHORS = 1024
# About 2 KB each with the rendered JSON: a few tens of MB per reader at most.
MAX_KEPT_RESOURCES = 10_000
_LOWEST = -(2**63)

Key = tuple[str, tuple[object, ...]]
# Resources as pages read them: by tenant and whether with their groups.
KeptKey = tuple[str, bool]


@dataclass(frozen=True)
class Walk:
    """The statements that find anchors, both taking the filter's parameters.

    `step_sql` is the `seq` of the match that lies a number of matches after
    the first match at or after a `seq` (two more parameters: that `seq` and
    the number); `tail_sql` counts the matches at or after a `seq`.
    """

    step_sql: str
    tail_sql: str


class PageCache:
    """Totals, anchors and resources of pages, kept while no resource changed.

    SQLite changes `PRAGMA data_version` whenever another connection commits.
    Read as the first statement of a read transaction, it is the version of
    that transaction's snapshot; when it moved, the count of
    `resource_changes` in the same snapshot says whether resources did, so
    what is kept always describes the data the page is read from. One cache
    belongs to one connection; it holds at most `size` statements, each with
    at most `MAX_ANCHORS` anchors, and at most `resources` resources.
    """

    def __init__(self, *, size: int = 64, resources: int = MAX_KEPT_RESOURCES) -> None:
        self._size = size
        self._version: int | None = None
        self._changes: int | None = None
        self._entries: dict[Key, int | Anchors] = {}
        self._resource_limit = resources
        self._resource_count = 0
        self._resources: dict[KeptKey, dict[str, StoredResource]] = {}

    def check(self, connection: sqlite3.Connection) -> None:
        """Forget everything if a resource changed; call first in
        the transaction."""
        version = connection.execute("PRAGMA data_version").fetchone()[0]
        if version == self._version:
            return
        self._version = version
        # Another connection committed; it may have written only invitations
        # or outbox messages, which change no page (migration 6).
        changes = connection.execute("SELECT n FROM resource_changes").fetchone()[0]
        if changes != self._changes:
            self._entries.clear()
            self._forget_resources()
            self._changes = changes

    def resources(self, tenant: str, with_groups: bool) -> dict[str, StoredResource]:
        """The resources kept of `tenant`, by id, read with or without groups."""
        return self._resources.get((tenant, with_groups)) or {}

    def keep_resources(
        self, tenant: str, with_groups: bool, found: Sequence[StoredResource]
    ) -> None:
        """Keep resources a page read, for as long as the file is unchanged."""
        if self._resource_count + len(found) > self._resource_limit:
            self._forget_resources()
        kept = self._resources.setdefault((tenant, with_groups), {})
        before = len(kept)
        kept.update((resource.id, resource) for resource in found)
        self._resource_count += len(kept) - before

    def _forget_resources(self) -> None:
        self._resources.clear()
        self._resource_count = 0

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
