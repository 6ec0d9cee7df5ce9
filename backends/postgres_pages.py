"""What a Postgres backend process keeps between list requests: anchors of
the creation order, and the resources its pages read.

`OFFSET` makes Postgres step through every skipped entry of the `seq` index:
1.6 ms of database CPU for a page from the middle of 10,000 users, several
times what reading and sending the page's own 100 rows costs. A process
therefore keeps, per tenant and resource type, `Anchors` of the creation
order, and an unfiltered page in that order starts at the anchor below its
offset.

No signal tells a process that another one wrote. Instead every such page
reads, in the same statement and so in the same snapshot as its rows, the
`Census` of the tenant's resources of that type: their number and the number
ever removed (`resource_counts`, migration 7). A resource that comes raises
the first, one that goes raises the second (and lowers the first), and
neither ever comes back to an earlier pair, so a snapshot whose census equals
the one the anchors were walked in holds the same rows in the same order:
the page is exactly what `OFFSET` would have read. When the census differs,
the anchors are dropped and the page is read with `OFFSET`; they are walked
again once two pages in a row saw the same census, so that while a tenant is
being written to, pages cost what they cost without anchors and no walk is
wasted.

Pages also hand out the `StoredResource` they built before, with what the
gateway derived from it (`StoredResource.memo`): for a page of 100 users,
building and rendering the resources cost more than reading them, and
looking up each user's groups more than reading the users. An anchored page
first reads only the ids and versions of its rows, with the census and, for
users with their groups, the `GroupsPrint` of the tenant's groups; when every
resource is kept at that version, read with groups of the same print, the
page is the kept resources. Otherwise it reads its rows whole, and a row that
still holds the same document, version, times and groups gives the kept
object back too.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import NamedTuple

import asyncpg

from scim_gateway.backends.base import GroupRef, StoredResource
from scim_gateway.backends.pages import Anchors
from scim_gateway.backends.postgres_rows import to_groups, to_resource

__all__ = ["ANCHOR_SPACING", "MAX_ANCHORS", "Census", "PageKeeper"]

# Skipping a row of the `seq` index costs about 0.3 us: a page skips at most
# 63 of them, and 100,000 users need 1,563 anchors (12 KB).
ANCHOR_SPACING = 64
MAX_ANCHORS = 4096
# About 2 KB each with the rendered JSON.
MAX_KEPT_RESOURCES = 20_000

Kind = tuple[str, str]
# Resources as pages read them: by tenant, id and whether with their groups.
KeptKey = tuple[str, str, bool]
Groups = tuple[Sequence[str] | None, Sequence[str | None] | None]


class GroupsPrint(NamedTuple):
    """How many groups a tenant has, how many it ever removed, and the sum of
    their versions: a user's groups are as they were while it stays the same.

    Adding or removing a member or renaming a group raises that group's
    version, and the counts change when a group comes or goes.
    """

    total: int
    removed: int
    versions: int

    @classmethod
    def of(cls, row: asyncpg.Record) -> GroupsPrint | None:
        """The print a page's statement read; None if it read none, or past
        `MAX_PRINTED_GROUPS`."""
        versions = row.get("group_versions")
        if versions is None:
            return None
        return cls(row["group_total"], row["group_removed"], versions)


# A kept resource, the groups it was read with, and the groups' print then.
Kept = tuple[StoredResource, Groups | None, "GroupsPrint | None"]


class Census(NamedTuple):
    """How many resources of a tenant and type there are, and how many were
    ever removed."""

    total: int
    removed: int

    @classmethod
    def of(cls, row: asyncpg.Record) -> Census:
        return cls(row["total"], row["removed"])


class PageKeeper:
    """The anchors and resources of one backend's pages (see the module).

    It holds anchors for at most `kinds` tenant and type pairs, each at most
    `MAX_ANCHORS` long, and at most `resources` resources; past either bound it
    forgets all of that kind and starts again.
    """

    def __init__(self, *, kinds: int = 64, resources: int = MAX_KEPT_RESOURCES) -> None:
        self._kinds = kinds
        self._anchors: dict[Kind, tuple[Census, Anchors]] = {}
        self._seen: dict[Kind, Census] = {}
        self._walking: set[Kind] = set()
        self._resource_limit = resources
        self._resources: dict[KeptKey, Kept] = {}

    def anchors(self, kind: Kind) -> tuple[Census, Anchors] | None:
        """The anchors of `kind` and the census they were walked in."""
        return self._anchors.get(kind)

    def drop(self, kind: Kind, seen: Census | None) -> None:
        """Forget the anchors of `kind`: a page saw the census `seen` instead."""
        self._anchors.pop(kind, None)
        if seen is not None:
            self._see(kind, seen)

    def should_walk(self, kind: Kind, census: Census) -> bool:
        """Whether to walk `kind` now that a page without anchors saw `census`:
        when the page before it saw the same, and no walk is under way."""
        if kind in self._walking or kind in self._anchors:
            return False
        if self._seen.get(kind) == census:
            return True
        self._see(kind, census)
        return False

    def _see(self, kind: Kind, census: Census) -> None:
        if kind not in self._seen and len(self._seen) >= self._kinds:
            self._seen.clear()
        self._seen[kind] = census

    @contextmanager
    def walking(self, kind: Kind) -> Iterator[None]:
        """Mark `kind` as being walked for the duration of a `with` block."""
        self._walking.add(kind)
        try:
            yield
        finally:
            self._walking.discard(kind)

    @staticmethod
    def spacing(total: int) -> int:
        """Anchors every this many resources, for `total` of them."""
        spacing = ANCHOR_SPACING
        while total > spacing * MAX_ANCHORS:
            spacing *= 2
        return spacing

    def keep_anchors(
        self, kind: Kind, census: Census, spacing: int, seqs: Sequence[int]
    ) -> None:
        if kind not in self._anchors and len(self._anchors) >= self._kinds:
            self._anchors.clear()
        self._anchors[kind] = (census, Anchors(census.total, spacing, array("q", seqs)))
        self._seen.pop(kind, None)

    def resource(
        self, tenant: str, row: asyncpg.Record, with_groups: bool
    ) -> StoredResource:
        """The resource of a page's row: the one built before for the same
        row when nothing in it changed, else a new one, kept."""
        key = (tenant, row["id"], with_groups)
        groups: Groups | None = None
        if with_groups:
            groups = (row["group_ids"], row["group_displays"])
        seen = GroupsPrint.of(row) if with_groups else None
        kept = self._resources.get(key)
        if kept is not None:
            resource, kept_groups, _ = kept
            if (
                resource.version == row["version"]
                and kept_groups == groups
                and resource.last_modified == row["last_modified"]
                and resource.created == row["created"]
                and resource.text == row["document"]
            ):
                self._resources[key] = (resource, groups, seen)
                return resource
        refs: list[GroupRef] | None = None if groups is None else to_groups(*groups)
        resource = to_resource(row, groups=refs)
        if kept is None and len(self._resources) >= self._resource_limit:
            self._resources.clear()
        self._resources[key] = (resource, groups, seen)
        return resource

    def known(
        self, tenant: str, keys: asyncpg.Record, with_groups: bool
    ) -> list[StoredResource] | None:
        """The kept resources of a page read as `page_keys_sql` (ids and
        versions); None unless every one is kept at that version and, read
        with groups, with the groups as they still are."""
        ids, versions = keys["ids"], keys["versions"]
        seen = GroupsPrint.of(keys) if with_groups else None
        if ids is None or (with_groups and seen is None):
            return None
        found: list[StoredResource] = []
        for id, version in zip(ids, versions, strict=True):
            kept = self._resources.get((tenant, id, with_groups))
            if kept is None or kept[0].version != version or kept[2] != seen:
                return None
            found.append(kept[0])
        return found
