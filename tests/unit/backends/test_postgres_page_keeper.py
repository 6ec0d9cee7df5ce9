"""What a PostgreSQL backend keeps of its pages' resources (`PageKeeper`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import asyncpg

from scim_gateway.backends.base import USER
from scim_gateway.backends.postgres_pages import PageKeeper

TENANT = "acme"
NOW = datetime(2026, 12, 5, tzinfo=UTC)


def row(resource_id: str, version: int = 1) -> asyncpg.Record:
    # The columns a page's statement reads; a mapping serves as well as a Record.
    values: dict[str, Any] = {
        "resource_type": USER,
        "id": resource_id,
        "document": f'{{"userName": "{resource_id}"}}',
        "version": version,
        "created": NOW,
        "last_modified": NOW,
    }
    return cast(asyncpg.Record, values)


def keys(*pairs: tuple[str, int]) -> asyncpg.Record:
    ids = [resource_id for resource_id, _ in pairs]
    versions = [version for _, version in pairs]
    return cast(asyncpg.Record, {"ids": ids, "versions": versions})


def test_a_page_of_kept_resources_at_their_versions_is_handed_out_again() -> None:
    keeper = PageKeeper()
    ann, bo = (
        keeper.resource(TENANT, row("ann"), False),
        keeper.resource(TENANT, row("bo"), False),
    )

    found = keeper.known(TENANT, keys(("ann", 1), ("bo", 1)), False)

    assert found is not None
    assert found[0] is ann and found[1] is bo
    assert keeper.known(TENANT, keys(("ann", 1), ("bo", 2)), False) is None
    assert keeper.known(TENANT, keys(("ann", 1), ("cy", 1)), False) is None
    assert keeper.known("other", keys(("ann", 1)), False) is None
    assert keeper.known(TENANT, keys(("ann", 1)), True) is None


def test_a_changed_row_is_built_again_and_an_unchanged_one_is_not() -> None:
    keeper = PageKeeper()
    first = keeper.resource(TENANT, row("ann"), False)

    same = keeper.resource(TENANT, row("ann"), False)
    changed = keeper.resource(TENANT, row("ann", version=2), False)

    assert same is first
    assert changed is not first and changed.version == 2
    assert keeper.known(TENANT, keys(("ann", 2)), False) == [changed]


def test_the_keeper_forgets_all_past_its_bound_and_starts_again() -> None:
    keeper = PageKeeper(resources=3)
    for name in ("ann", "bo", "cy"):
        keeper.resource(TENANT, row(name), False)
    assert keeper.known(TENANT, keys(("ann", 1), ("bo", 1), ("cy", 1)), False)

    # A resource read again counts once; a fourth new one goes past the bound.
    keeper.resource(TENANT, row("ann"), False)
    di = keeper.resource("other", row("di"), False)

    assert keeper.known(TENANT, keys(("ann", 1)), False) is None
    assert keeper.known("other", keys(("di", 1)), False) == [di]
