"""Every limit is configurable and answered with a clear SCIM error, quickly.

Oversized and over-nested input (a 10 MB body, a filter of 10,000 nested
parentheses, JSON nested 100,000 deep) is refused with a 4xx, and the app
goes on answering normal requests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from scim_gateway.app import create_app
from scim_gateway.backends.base import Backend
from scim_gateway.config import Settings
from tests.conftest import TOKEN
from tests.security.answers import check_answer

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
JSON = {"Content-Type": "application/scim+json"}


def client_for(backend: Backend, **limits: Any) -> httpx.AsyncClient:
    app = create_app(
        settings=Settings(database="memory", **limits), backend=backend, tokens=TOKEN
    )
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver/scim/v2",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )


async def assert_still_healthy(client: httpx.AsyncClient) -> None:
    created = await client.post("/Users", json={"userName": "after@example.com"})
    assert created.status_code == 201, created.text


def error(response: httpx.Response) -> dict[str, Any]:
    document = check_answer(response)
    assert document is not None
    assert document["schemas"] == [ERROR]
    return document


class TestBodySize:
    async def test_ten_megabyte_body_is_413_and_the_app_goes_on(
        self, client: httpx.AsyncClient
    ) -> None:
        body = b'{"userName": "' + b"x" * 10_000_000 + b'"}'

        response = await client.post("/Users", content=body, headers=JSON)

        assert response.status_code == 413
        assert "larger than 1048576 bytes" in error(response)["detail"]
        await assert_still_healthy(client)

    async def test_streamed_body_without_length_is_cut_off_at_the_limit(
        self, backend: Backend
    ) -> None:
        async def chunks() -> AsyncIterator[bytes]:
            yield b'{"userName": "'
            for _ in range(100):
                yield b"x" * 1000
            yield b'"}'

        async with client_for(backend, max_body_bytes=10_000) as client:
            response = await client.post("/Users", content=chunks(), headers=JSON)

        assert response.status_code == 413
        assert "larger than 10000 bytes" in error(response)["detail"]


class TestJsonDepth:
    async def test_json_nested_100000_deep_is_invalid_syntax(
        self, client: httpx.AsyncClient
    ) -> None:
        body = b'{"userName": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"

        response = await client.post("/Users", content=body, headers=JSON)

        assert response.status_code == 400
        document = error(response)
        assert document["scimType"] == "invalidSyntax"
        assert "deeper than 32 levels" in document["detail"]
        await assert_still_healthy(client)

    async def test_depth_limit_is_configurable(self, backend: Backend) -> None:
        body = {"userName": "ann", "name": {"givenName": "Ann"}}

        async with client_for(backend, max_json_depth=1) as client:
            response = await client.post("/Users", json=body)

        assert response.status_code == 400
        assert "deeper than 1 levels" in error(response)["detail"]


class TestFilterLimits:
    async def test_filter_of_10000_nested_parentheses_is_invalid_filter(
        self, client: httpx.AsyncClient
    ) -> None:
        nested = "(" * 10_000 + 'userName eq "a"' + ")" * 10_000

        response = await client.get("/Users", params={"filter": nested})

        assert response.status_code == 400
        document = error(response)
        assert document["scimType"] == "invalidFilter"
        assert "longer than 4096 characters" in document["detail"]
        await assert_still_healthy(client)

    async def test_deep_filter_within_the_length_is_refused_by_depth(
        self, backend: Backend
    ) -> None:
        nested = "(" * 10_000 + 'userName eq "a"' + ")" * 10_000

        async with client_for(backend, max_filter_length=50_000) as client:
            response = await client.post("/Users/.search", json={"filter": nested})

        assert response.status_code == 400
        document = error(response)
        assert document["scimType"] == "invalidFilter"
        assert "nests deeper than 50 levels" in document["detail"]

    async def test_filter_depth_is_configurable(self, backend: Backend) -> None:
        async with client_for(backend, max_filter_depth=2) as client:
            allowed = await client.get("/Users", params={"filter": "((userName pr))"})
            refused = await client.get("/Users", params={"filter": "(((userName pr)))"})

        assert allowed.status_code == 200
        assert refused.status_code == 400
        assert error(refused)["scimType"] == "invalidFilter"
        assert "deeper than 2 levels" in error(refused)["detail"]

    async def test_filter_length_is_configurable(self, backend: Backend) -> None:
        text = 'userName eq "' + "a" * 30 + '"'

        async with client_for(backend, max_filter_length=20) as client:
            response = await client.get("/Users", params={"filter": text})

        assert response.status_code == 400
        assert error(response)["detail"] == "filter is longer than 20 characters"

    async def test_patch_path_obeys_the_filter_limits(self, backend: Backend) -> None:
        async with client_for(backend, max_filter_length=20) as client:
            user = (await client.post("/Users", json={"userName": "ann"})).json()
            path = 'emails[type eq "' + "w" * 30 + '"].value'
            response = await client.patch(
                f"/Users/{user['id']}",
                json={"Operations": [{"op": "add", "path": path, "value": "a@b"}]},
            )

        assert response.status_code == 400
        document = error(response)
        assert document["scimType"] == "invalidPath"
        assert "longer than 20 characters" in document["detail"]


class TestRequestSize:
    async def test_too_many_patch_operations_is_413(self, backend: Backend) -> None:
        operation = {"op": "replace", "path": "title", "value": "x"}

        async with client_for(backend, max_operations=3) as client:
            user = (await client.post("/Users", json={"userName": "ann"})).json()
            response = await client.patch(
                f"/Users/{user['id']}", json={"Operations": [operation] * 4}
            )

        assert response.status_code == 413
        assert error(response)["detail"] == (
            "the request has 4 operations; at most 3 are allowed"
        )


@pytest.fixture
async def members_client(backend: Backend) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(backend, max_members_per_request=3) as client:
        yield client


async def make_users(client: httpx.AsyncClient, count: int) -> list[dict[str, str]]:
    members = []
    for number in range(count):
        user = await client.post("/Users", json={"userName": f"user{number}"})
        members.append({"value": user.json()["id"]})
    return members


class TestMembersPerRequest:
    async def test_patch_adding_more_members_than_allowed_is_413(
        self, members_client: httpx.AsyncClient
    ) -> None:
        members = await make_users(members_client, 4)
        group = await members_client.post("/Groups", json={"displayName": "g"})
        add = {"op": "add", "path": "members", "value": members}

        response = await members_client.patch(
            f"/Groups/{group.json()['id']}", json={"Operations": [add]}
        )

        assert response.status_code == 413
        assert "names 4 members; at most 3" in error(response)["detail"]

    async def test_members_are_counted_across_the_operations_of_a_patch(
        self, members_client: httpx.AsyncClient
    ) -> None:
        members = await make_users(members_client, 4)
        group = await members_client.post("/Groups", json={"displayName": "g"})
        operations = [
            {"op": "add", "path": "members", "value": members[:2]},
            {"op": "remove", "path": "members", "value": members[2:]},
        ]

        response = await members_client.patch(
            f"/Groups/{group.json()['id']}", json={"Operations": operations}
        )
        listed = await members_client.get(f"/Groups/{group.json()['id']}")

        assert response.status_code == 413
        assert "members" not in listed.json()

    async def test_create_with_more_members_than_allowed_is_413(
        self, members_client: httpx.AsyncClient
    ) -> None:
        members = await make_users(members_client, 4)

        response = await members_client.post(
            "/Groups", json={"displayName": "g", "members": members}
        )

        assert response.status_code == 413
        assert "at most 3 are allowed in one request" in error(response)["detail"]

    async def test_members_up_to_the_limit_are_accepted(
        self, members_client: httpx.AsyncClient
    ) -> None:
        members = await make_users(members_client, 3)

        response = await members_client.post(
            "/Groups", json={"displayName": "g", "members": members}
        )

        assert response.status_code == 201
        assert len(response.json()["members"]) == 3


class TestPaging:
    async def test_count_above_the_maximum_is_clamped(self, backend: Backend) -> None:
        async with client_for(backend, max_page_size=2) as client:
            await make_users(client, 3)
            response = await client.get("/Users", params={"count": "1000000"})

        assert response.status_code == 200
        assert response.json()["itemsPerPage"] == 2
        assert response.json()["totalResults"] == 3

    async def test_huge_count_and_start_index_are_answered(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get(
            "/Users", params={"count": "9" * 30, "startIndex": "9" * 30}
        )

        assert response.status_code == 200
        assert response.json()["Resources"] == []


class TestValueLength:
    async def test_value_longer_than_the_limit_is_invalid_value(
        self, backend: Backend
    ) -> None:
        async with client_for(backend, max_value_length=10) as client:
            response = await client.post(
                "/Users", json={"userName": "ann", "title": "t" * 11}
            )

        assert response.status_code == 400
        document = error(response)
        assert document["scimType"] == "invalidValue"
        assert document["detail"] == ('attribute "title" is longer than 10 characters')
