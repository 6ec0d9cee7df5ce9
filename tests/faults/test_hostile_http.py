"""Oversized and over-nested requests against a real `scim-gateway serve`.

A 10 MB body, a filter of 10,000 nested parentheses and a JSON document
nested 100,000 deep each get a 4xx, and the process goes on serving.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.server import Server
from tests.load.serving import TOKEN, served

JSON = {"Content-Type": "application/scim+json"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with served("sqlite", tmp_path_factory.mktemp("hostile")) as (started, _):
        yield started


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=f"{server.base}/scim/v2",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=30,
    ) as http:
        yield http


def assert_healthy(server: Server, client: httpx.Client) -> None:
    assert httpx.get(f"{server.base}/healthz").status_code == 200
    assert client.get("/Users", params={"count": 1}).status_code == 200
    assert server.process.poll() is None


def test_ten_megabyte_body_is_413(server: Server, client: httpx.Client) -> None:
    body = b'{"userName": "' + b"x" * 10_000_000 + b'"}'

    response = client.post("/Users", content=body, headers=JSON)

    assert response.status_code == 413
    assert response.json()["detail"] == "request body is larger than 1048576 bytes"
    assert_healthy(server, client)


def test_json_nested_100000_deep_is_invalid_syntax(
    server: Server, client: httpx.Client
) -> None:
    body = b"[" * 100_000 + b"]" * 100_000

    response = client.post("/Users", content=body, headers=JSON)

    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidSyntax"
    assert_healthy(server, client)


def test_filter_of_10000_nested_parentheses_is_invalid_filter(
    server: Server, client: httpx.Client
) -> None:
    nested = "(" * 10_000 + 'userName eq "a"' + ")" * 10_000

    response = client.post("/Users/.search", json={"filter": nested})

    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidFilter"
    assert_healthy(server, client)


def test_url_too_long_for_the_http_server_is_a_plain_400(
    server: Server, client: httpx.Client
) -> None:
    """Past 16 KB the HTTP server itself refuses the request line."""
    nested = "(" * 10_000 + 'userName eq "a"' + ")" * 10_000

    response = client.get("/Users", params={"filter": nested})

    assert response.status_code == 400
    assert_healthy(server, client)
