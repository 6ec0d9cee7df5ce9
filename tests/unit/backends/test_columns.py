"""What backends keep beside a document: ids first."""

from __future__ import annotations

import time
import uuid

from scim_gateway.backends.columns import new_id, new_ordered_id


def test_new_ids_are_random_uuids_spelled_as_str_of_uuid4() -> None:
    ids = [new_id() for _ in range(1000)]

    parsed = [uuid.UUID(text) for text in ids]
    assert all(u.version == 4 and u.variant == uuid.RFC_4122 for u in parsed)
    assert [str(u) for u in parsed] == ids
    assert len(set(ids)) == len(ids)


def test_new_ordered_ids_are_version_7_uuids_in_the_order_made() -> None:
    ids = []
    for _ in range(5):
        ids.append(new_ordered_id())
        time.sleep(0.002)

    parsed = [uuid.UUID(text) for text in ids]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in parsed)
    assert [str(u) for u in parsed] == ids
    assert sorted(ids) == ids
    assert abs((parsed[0].int >> 80) - time.time_ns() // 1_000_000) < 60_000
