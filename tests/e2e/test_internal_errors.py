"""The unexpected becomes a SCIM 500 naming the request id; its traceback is logged."""

from __future__ import annotations

import logging

import httpx
import pytest

from scim_gateway.app import create_app
from scim_gateway.backends.base import Page, Query
from scim_gateway.backends.memory import MemoryBackend
from scim_gateway.config import Settings


class BrokenBackend(MemoryBackend):
    """A bug in a backend cannot be provoked through input, so it is planted."""

    async def query(self, tenant: str, resource_type: str, query: Query) -> Page:
        raise RuntimeError("planted bug with /srv/secret/path")


async def test_unexpected_error_is_500_with_request_id_and_no_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = create_app(settings=Settings(), backend=BrokenBackend(), tokens="tok-123456")
    caplog.set_level(logging.ERROR, logger="scim_gateway")

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver/scim/v2"
    ) as client:
        response = await client.get(
            "/Users",
            headers={"Authorization": "Bearer tok-123456", "X-Request-ID": "req-42"},
        )

    body = response.json()
    assert response.status_code == 500
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert body["status"] == "500"
    assert "req-42" in body["detail"]
    assert "planted" not in response.text
    assert "/srv/secret" not in response.text
    (record,) = [r for r in caplog.records if r.getMessage() == "internal_error"]
    assert record.exc_info is not None
