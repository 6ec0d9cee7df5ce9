"""Helpers for the PATCH tests: run operations as a client would send them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from scim_gateway.backends.base import Member
from scim_gateway.patch import PatchResult, apply_patch, parse_patch_request
from scim_gateway.patchop import PATCH_OP
from scim_gateway.schemas import ENTERPRISE_USER, GROUP, USER, SchemaRegistry

REGISTRY = SchemaRegistry()
USERS = REGISTRY.resource_type("User")
GROUPS = REGISTRY.resource_type("Group")
ENTERPRISE = ENTERPRISE_USER

ANN: dict[str, Any] = {
    "schemas": [USER, ENTERPRISE_USER],
    "userName": "ann.lee@example.com",
    "displayName": "Ann Lee",
    "active": True,
    "name": {"givenName": "Ann", "familyName": "Lee"},
    "emails": [
        {"value": "ann@example.com", "type": "work", "primary": True},
        {"value": "ann@home.example.org", "type": "home"},
    ],
    ENTERPRISE_USER: {"employeeNumber": "701", "department": "Finance"},
}

LAB: dict[str, Any] = {"schemas": [GROUP], "displayName": "Lab"}


def body(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": list(operations)}


def patch_user(
    document: dict[str, Any], *operations: dict[str, Any], **options: Any
) -> PatchResult:
    parsed = parse_patch_request(body(*operations))
    return apply_patch(REGISTRY, USERS, document, parsed, **options)


def patch_group(
    *operations: dict[str, Any],
    document: dict[str, Any] | None = None,
    members: Sequence[Member] | None = None,
) -> PatchResult:
    parsed = parse_patch_request(body(*operations))
    return apply_patch(REGISTRY, GROUPS, document or LAB, parsed, members=members)


def edited(document: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """`document` with top-level keys changed; a None value removes the key."""
    changed = {**document, **changes}
    return {k: v for k, v in changed.items() if v is not None}
