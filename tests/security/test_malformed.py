"""Malformed bodies on every endpoint that reads one: a 4xx that says what is wrong.

Broken JSON, invalid UTF-8, repeated keys, numbers out of range and null
where an object belongs are 400 `invalidSyntax` or `invalidValue`; a body
typed as something other than JSON is 415; nothing is stored.
"""

from __future__ import annotations

import httpx
import pytest

from tests.security.answers import check_answer

ENDPOINTS = [
    ("POST", "/Users"),
    ("PUT", "/Users/{id}"),
    ("PATCH", "/Users/{id}"),
    ("POST", "/Users/.search"),
    ("POST", "/.search"),
]

BODIES = [
    (b"{", "invalidSyntax", "not valid JSON"),
    (b'{"userName": "ann",}', "invalidSyntax", "not valid JSON"),
    (b"\xef\xbb\xbf{}", "invalidSyntax", "not valid JSON"),
    (b'{"userName": "\xc3\x28"}', "invalidSyntax", "not valid UTF-8 at byte 14"),
    (
        b'{"userName": "a", "userName": "b"}',
        "invalidSyntax",
        'repeats the key "userName"',
    ),
    (b'{"count": NaN}', "invalidSyntax", "NaN"),
    (b'{"count": -Infinity}', "invalidSyntax", "-Infinity"),
    (b'{"userName": "\\ud800"}', "invalidSyntax", "unpaired surrogate"),
    (b'{"count": 1e400}', "invalidValue", "too large for a double"),
    (b'{"count": 99999999999999999999}', "invalidValue", "beyond 64 bits"),
    (b'{"userName": "a\\u0000"}', "invalidSyntax", "NUL character"),
    (b"", "invalidSyntax", "empty"),
]

NOT_OBJECTS = [b"null", b"[]", b'"text"', b"42", b"true"]


@pytest.fixture
def backend_kind() -> str:
    """Bodies are refused before any backend is asked: one backend is enough."""
    return "memory"


@pytest.fixture
async def user_id(client: httpx.AsyncClient) -> str:
    created = await client.post("/Users", json={"userName": "ann@example.com"})
    user: str = created.json()["id"]
    return user


async def send(
    client: httpx.AsyncClient,
    endpoint: tuple[str, str],
    user_id: str,
    body: bytes,
    content_type: str = "application/scim+json",
) -> httpx.Response:
    method, path = endpoint
    return await client.request(
        method,
        path.format(id=user_id),
        content=body,
        headers={"Content-Type": content_type},
    )


async def assert_unchanged(client: httpx.AsyncClient, user_id: str) -> None:
    listed = await client.get("/Users")
    assert listed.json()["totalResults"] == 1
    assert listed.json()["Resources"][0]["userName"] == "ann@example.com"


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(("body", "scim_type", "named"), BODIES)
async def test_malformed_body_is_400_naming_the_fault(
    client: httpx.AsyncClient,
    user_id: str,
    endpoint: tuple[str, str],
    body: bytes,
    scim_type: str,
    named: str,
) -> None:
    response = await send(client, endpoint, user_id, body)

    document = check_answer(response)
    assert response.status_code == 400
    assert document is not None
    assert document["scimType"] == scim_type
    assert named in document["detail"]
    await assert_unchanged(client, user_id)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("body", NOT_OBJECTS)
async def test_body_that_is_not_an_object_is_invalid_syntax(
    client: httpx.AsyncClient, user_id: str, endpoint: tuple[str, str], body: bytes
) -> None:
    response = await send(client, endpoint, user_id, body)

    document = check_answer(response)
    assert response.status_code == 400
    assert document is not None
    assert document["scimType"] == "invalidSyntax"
    assert "must be a JSON object" in document["detail"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/xml", "application/x-www-form-urlencoded"],
)
async def test_body_typed_as_something_else_is_415(
    client: httpx.AsyncClient,
    user_id: str,
    endpoint: tuple[str, str],
    content_type: str,
) -> None:
    response = await send(client, endpoint, user_id, b'{"userName": "x"}', content_type)

    document = check_answer(response)
    assert response.status_code == 415
    assert document is not None
    assert f'Content-Type "{content_type}" is not supported' in document["detail"]
    await assert_unchanged(client, user_id)


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (b'{"Operations": null}', '"Operations"'),
        (b'{"Operations": [null]}', '"Operations.0"'),
        (b'{"Operations": {"op": "add"}}', '"Operations"'),
        (b'{"Operations": [{"op": null, "value": {}}]}', '"Operations.0.op"'),
    ],
)
async def test_null_or_wrong_shape_where_patch_needs_an_object_is_invalid_syntax(
    client: httpx.AsyncClient, user_id: str, body: bytes, named: str
) -> None:
    response = await send(client, ("PATCH", "/Users/{id}"), user_id, body)

    document = check_answer(response)
    assert response.status_code == 400
    assert document is not None
    assert document["scimType"] == "invalidSyntax"
    assert named in document["detail"]


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (b'{"userName": "x", "name": 5}', 'attribute "name" must be an object'),
        (b'{"userName": "x", "emails": [[]]}', 'attribute "emails" must be an object'),
        (b'{"userName": {"value": "x"}}', 'attribute "userName" must be a string'),
        (
            b'{"userName": "x", "active": "maybe"}',
            'attribute "active" must be a boolean',
        ),
    ],
)
async def test_value_of_the_wrong_type_is_invalid_value(
    client: httpx.AsyncClient, user_id: str, body: bytes, named: str
) -> None:
    response = await send(client, ("POST", "/Users"), user_id, body)

    document = check_answer(response)
    assert response.status_code == 400
    assert document is not None
    assert document["scimType"] == "invalidValue"
    assert named in document["detail"]
