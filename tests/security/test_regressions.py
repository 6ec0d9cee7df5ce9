"""Inputs that once broke the gateway, kept as plain tests on every backend.

Each was a 500 before its fix: found by the probes and property tests of
this folder, fixed where the value enters (the filter lexer, the JSON
reader), so that no backend ever sees it.
"""

from __future__ import annotations

import httpx
import pytest

from tests.security.answers import check_answer


@pytest.mark.parametrize(
    "number",
    [
        "9" * 400,  # int() gave it, float() overflowed in the lexer's range check
        "9223372036854775808",  # one past a 64-bit integer
        "-9223372036854775809",
    ],
)
async def test_filter_with_an_integer_no_store_holds_is_invalid_filter(
    client: httpx.AsyncClient, number: str
) -> None:
    response = await client.get("/Users", params={"filter": f"title eq {number}"})

    document = check_answer(response)
    assert response.status_code == 400
    assert document is not None
    assert document["scimType"] == "invalidFilter"
    assert "number out of range" in document["detail"]


async def test_lone_surrogate_is_refused_and_never_poisons_later_answers(
    client: httpx.AsyncClient,
) -> None:
    """It used to be stored, then every list or search that met it was a 500."""
    refused = await client.post(
        "/Users",
        content=b'{"userName": "\\ud800"}',
        headers={"Content-Type": "application/scim+json"},
    )
    await client.post("/Users", json={"userName": "ann"})

    listed = await client.get("/Users")
    searched = await client.post("/.search", json={"count": 1_000_000})

    assert refused.status_code == 400
    assert check_answer(listed) is not None
    assert listed.json()["totalResults"] == 1
    assert check_answer(searched) is not None
    assert searched.json()["totalResults"] == 1


@pytest.mark.parametrize("body", [b'{"count": 1e400}', b'{"count": 1e308}'])
async def test_search_with_a_count_past_any_page_is_clamped_or_refused(
    client: httpx.AsyncClient, body: bytes
) -> None:
    response = await client.post(
        "/.search", content=body, headers={"Content-Type": "application/scim+json"}
    )

    check_answer(response)
    assert response.status_code == 400


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
async def test_an_id_holding_nul_is_404_before_any_backend(
    client: httpx.AsyncClient, method: str
) -> None:
    """DELETE of such an id was a 500 on PostgreSQL, whose text refuses NUL."""
    body = b'{"Operations": []}' if method == "PATCH" else b'{"userName": "x"}'

    response = await client.request(
        method,
        "/Users/a%00b",
        content=None if method in ("GET", "DELETE") else body,
        headers={"Content-Type": "application/scim+json"},
    )

    document = check_answer(response)
    assert response.status_code == 404
    assert document is not None
    assert document["detail"] == "the path holds U+0000, which names nothing here"
