"""What the gateway logs: one line per request, and never a secret."""

from __future__ import annotations

import logging

import httpx
import pytest

from tests.conftest import TOKEN

USER = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "userName": "secret.person@example.com",
    "name": {"givenName": "Secretive"},
}


async def exercise(client: httpx.AsyncClient, anonymous: httpx.AsyncClient) -> None:
    created = await client.post("/Users", json=USER)
    user_id = created.json()["id"]
    await client.get(
        "/Users", params={"filter": 'userName eq "secret.person@example.com"'}
    )
    await client.patch(
        f"/Users/{user_id}",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "displayName", "value": "Hidden"}],
        },
    )
    await anonymous.get("/Users", headers={"Authorization": "Bearer wrong-token-123"})


async def test_one_info_line_per_request_with_its_fields(
    client: httpx.AsyncClient,
    anonymous_client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="scim_gateway")

    await exercise(client, anonymous_client)

    lines = [r.getMessage() for r in caplog.records if r.name == "scim_gateway.access"]
    assert len(lines) == 4
    assert lines[0].startswith("request method=POST route=/{resource} resource=User")
    assert "status=201" in lines[0]
    assert "status=401" in lines[3]
    assert all("duration_ms=" in line for line in lines)


async def test_no_token_or_personal_data_at_info_and_no_token_at_debug(
    client: httpx.AsyncClient,
    anonymous_client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)

    await exercise(client, anonymous_client)

    ours = [r for r in caplog.records if r.name.startswith("scim_gateway")]
    everything = "\n".join(r.getMessage() for r in ours)
    informative = "\n".join(r.getMessage() for r in ours if r.levelno >= logging.INFO)
    assert TOKEN not in everything
    assert "wrong-token-123" not in everything
    for secret in ("secret.person", "Secretive", "Hidden"):
        assert secret not in informative
    assert "auth_failed" in informative


async def test_request_id_is_returned_and_a_sane_incoming_one_kept(
    client: httpx.AsyncClient,
) -> None:
    kept = await client.get("/Users", headers={"X-Request-ID": "abc-123"})
    replaced = await client.get(
        "/Users", headers={"X-Request-ID": "bad id\nwith lines"}
    )

    assert kept.headers["x-request-id"] == "abc-123"
    assert replaced.headers["x-request-id"] != "bad id\nwith lines"
    assert len(replaced.headers["x-request-id"]) == 32


async def test_crafted_id_cannot_forge_a_log_line(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="scim_gateway")
    forged = "abc%0A2026-12-04%20ERROR%20scim_gateway.app%20FORGED%0D%1B%5B31m"

    response = await client.get(f"/Users/{forged}")

    (line,) = [
        r.getMessage() for r in caplog.records if r.name == "scim_gateway.access"
    ]
    assert response.status_code == 404
    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    assert "\x00" not in line
    assert "id=abc\\n2026-12-04\\x20ERROR" in line
