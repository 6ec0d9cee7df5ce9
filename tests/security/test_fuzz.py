"""Hostile requests of every kind, through HTTP, on every backend.

Whatever arrives, the answer is a SCIM answer (2xx, or 4xx with the right
`scimType`), never a 500 or a traceback, and whatever was stored reads back
and passes the schema. `make test` runs a bounded, repeatable number of
examples; `make fuzz` runs many more (tests/conftest.py has the profiles).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.security import strategies as s
from tests.security.answers import check_answer, check_stored

RESOURCES = st.sampled_from(["Users", "Groups"])
TYPES = {"Users": "User", "Groups": "Group"}


def per_resource(
    make: Callable[[str], st.SearchStrategy[Any]],
) -> st.SearchStrategy[tuple[str, Any]]:
    """A resource endpoint and a value drawn for it."""
    return RESOURCES.flatmap(lambda r: st.tuples(st.just(r), make(r)))


@dataclass(frozen=True)
class Seeded:
    """A user and a group (with the user as member) that examples aim at."""

    user_id: str
    group_id: str

    def ids(self, resource: str) -> str:
        return self.user_id if resource == "Users" else self.group_id

    def fill(self, body: Any) -> bytes:
        """`body` as JSON, with the placeholders `{user}` and `{group}` filled."""
        text = json.dumps(body)
        return (
            text.replace("{user}", self.user_id)
            .replace("{group}", self.group_id)
            .encode()
        )


@pytest.fixture
async def seeded(client: httpx.AsyncClient) -> AsyncIterator[Seeded]:
    user = await client.post("/Users", json={"userName": "seed@example.com"})
    group = await client.post(
        "/Groups",
        json={"displayName": "Seed", "members": [{"value": user.json()["id"]}]},
    )
    yield Seeded(user.json()["id"], group.json()["id"])

    await sweep(client)


async def sweep(client: httpx.AsyncClient) -> None:
    """Every resource left behind reads back and passes the schema."""
    for resource, resource_type in TYPES.items():
        listed = check_answer(await client.get(f"/{resource}", params={"count": 1000}))
        assert listed is not None
        for document in listed["Resources"]:
            check_stored(resource_type, document)


async def read_back(client: httpx.AsyncClient, resource: str, rid: str) -> None:
    document = check_answer(await client.get(f"/{resource}/{rid}"))
    assert document is not None
    check_stored(TYPES[resource], document)


JSON_HEADERS = {"Content-Type": "application/scim+json"}


@given(resource=RESOURCES, params=s.query_strings)
async def test_any_list_query_gets_a_scim_answer(
    client: httpx.AsyncClient, seeded: Seeded, resource: str, params: dict[str, str]
) -> None:
    response = await client.get(f"/{resource}", params=params)

    document = check_answer(response)
    if response.status_code == 200:
        assert document is not None
        assert document["itemsPerPage"] == len(document["Resources"]) <= 1000
        assert document["totalResults"] >= document["itemsPerPage"]


@given(resource=RESOURCES, params=s.query_strings)
async def test_any_query_on_one_resource_gets_a_scim_answer(
    client: httpx.AsyncClient, seeded: Seeded, resource: str, params: dict[str, str]
) -> None:
    response = await client.get(f"/{resource}/{seeded.ids(resource)}", params=params)

    check_answer(response)


@given(
    path=st.sampled_from(["/.search", "/Users/.search", "/Groups/.search"]),
    body=s.search_bodies,
)
async def test_any_search_body_gets_a_scim_answer(
    client: httpx.AsyncClient, seeded: Seeded, path: str, body: Any
) -> None:
    response = await client.post(path, content=seeded.fill(body), headers=JSON_HEADERS)

    check_answer(response)


@given(case=per_resource(s.resource_bodies))
async def test_any_created_resource_reads_back_valid(
    client: httpx.AsyncClient, seeded: Seeded, case: tuple[str, Any]
) -> None:
    resource, body = case
    response = await client.post(
        f"/{resource}", content=seeded.fill(body), headers=JSON_HEADERS
    )

    document = check_answer(response)
    if response.status_code == 201:
        assert document is not None
        await read_back(client, resource, document["id"])


@given(case=per_resource(s.resource_bodies))
async def test_any_replacement_leaves_a_valid_resource(
    client: httpx.AsyncClient, seeded: Seeded, case: tuple[str, Any]
) -> None:
    resource, body = case
    rid = seeded.ids(resource)

    response = await client.put(
        f"/{resource}/{rid}", content=seeded.fill(body), headers=JSON_HEADERS
    )

    check_answer(response)
    await read_back(client, resource, rid)


@given(case=per_resource(s.patch_bodies))
async def test_any_patch_leaves_a_valid_resource(
    client: httpx.AsyncClient, seeded: Seeded, case: tuple[str, Any]
) -> None:
    resource, body = case
    rid = seeded.ids(resource)

    response = await client.patch(
        f"/{resource}/{rid}", content=seeded.fill(body), headers=JSON_HEADERS
    )

    check_answer(response)
    await read_back(client, resource, rid)


@given(
    method=st.sampled_from(["POST", "PUT", "PATCH"]),
    resource=RESOURCES,
    raw=s.raw_bodies,
    content_type=s.content_types,
)
async def test_any_bytes_with_any_content_type_get_a_scim_answer(
    client: httpx.AsyncClient,
    seeded: Seeded,
    method: str,
    resource: str,
    raw: bytes,
    content_type: str,
) -> None:
    path = f"/{resource}" if method == "POST" else f"/{resource}/{seeded.ids(resource)}"

    response = await client.request(
        method, path, content=raw, headers={"Content-Type": content_type}
    )

    check_answer(response)


@given(
    method=st.sampled_from(["GET", "PUT", "PATCH", "DELETE"]),
    resource=RESOURCES,
    rid=s.TEXT.filter(bool),
)
async def test_any_resource_id_gets_a_scim_answer(
    client: httpx.AsyncClient, seeded: Seeded, method: str, resource: str, rid: str
) -> None:
    body = b'{"Operations": []}' if method == "PATCH" else b'{"userName": "x"}'

    response = await client.request(
        method,
        f"/{resource}/{quote(rid, safe='')}",
        content=None if method in ("GET", "DELETE") else body,
        headers=JSON_HEADERS,
    )

    check_answer(response)
