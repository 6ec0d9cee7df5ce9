"""What every answer of the gateway must be, whatever was asked."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpx
from hypothesis import event
from hypothesis.control import currently_in_test_context

from scim_gateway.errors import ERROR_SCHEMA
from scim_gateway.schemas import SchemaRegistry
from scim_gateway.validation import normalize_resource

# RFC 7644 §3.12 Table 9: the scimType values and the status each goes with.
SCIM_TYPES = {
    400: {
        "invalidFilter",
        "tooMany",
        "mutability",
        "invalidSyntax",
        "invalidPath",
        "noTarget",
        "invalidValue",
        "invalidVers",
        "sensitive",
    },
    409: {"uniqueness"},
}

# Marks of internals that must never reach a client: tracebacks, driver
# exception names, SQL. Client input can be echoed in `detail`, so these are
# phrases no generated input contains.
LEAK_MARKERS = (
    "Traceback (most recent",
    '.py", line',
    "sqlite3.",
    "asyncpg.",
    "OperationalError",
    "IntegrityError",
    " FROM resources",
    " FROM memberships",
)

REGISTRY = SchemaRegistry()


def check_answer(
    response: httpx.Response,
    *,
    secrets: Iterable[str] = (),
    success_type: str = "application/scim+json",
) -> dict[str, Any] | None:
    """Assert `response` is a proper SCIM answer; returns its JSON body, if any.

    Errors are always SCIM error documents; `success_type` is the media type
    of a 2xx body (the admin API answers plain JSON).
    """
    status = response.status_code
    if currently_in_test_context():
        event(f"status {status}")
    assert 200 <= status < 300 or 400 <= status < 500, _show(response)
    for marker in (*LEAK_MARKERS, *secrets):
        assert marker not in response.text, _show(response)
    if status in (204, 304):
        assert response.content == b"", _show(response)
        return None
    expected = success_type if status < 400 else "application/scim+json"
    assert response.headers["content-type"].startswith(expected), _show(response)
    document: dict[str, Any] = response.json()
    if status >= 400:
        _check_error(status, document)
    else:
        assert "password" not in _keys(document), _show(response)
    return document


def _check_error(status: int, document: dict[str, Any]) -> None:
    assert document["schemas"] == [ERROR_SCHEMA], document
    assert document["status"] == str(status), document
    assert isinstance(document["detail"], str) and document["detail"], document
    scim_type = document.get("scimType")
    allowed = SCIM_TYPES.get(status, set())
    if status == 400:
        assert scim_type in allowed, document
    else:
        assert scim_type is None or scim_type in allowed, document


def check_stored(resource_type: str, document: dict[str, Any]) -> None:
    """Assert a resource read back is one the gateway would accept as a body."""
    assert isinstance(document.get("id"), str), document
    assert document["meta"]["resourceType"] == resource_type, document
    normalize_resource(REGISTRY, REGISTRY.resource_type(resource_type), document)


def _keys(value: Any) -> set[str]:
    """Every object key in a JSON value, lower-cased."""
    found: set[str] = set()
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            found.update(key.lower() for key in node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def _show(response: httpx.Response) -> str:
    request = response.request
    return f"{request.method} {request.url} -> {response.status_code} {response.text}"
