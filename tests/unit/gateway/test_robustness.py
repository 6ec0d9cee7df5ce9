"""Bad input is a SCIM error, never a crash: random requests against the engine."""

from __future__ import annotations

import random
from typing import Any

import pytest

from scim_gateway.backends.base import Member
from scim_gateway.errors import ScimError
from scim_gateway.patch import MembersRequired, apply_patch, parse_patch_request
from scim_gateway.validation import normalize_resource
from tests.unit.gateway.patching import ANN, ENTERPRISE, GROUPS, LAB, REGISTRY, USERS

PATHS = [
    "title",
    "name",
    "name.givenName",
    "emails",
    "emails.value",
    'emails[type eq "work"]',
    'emails[type eq "work"].value',
    'emails[value co "x"].primary',
    'addresses[type eq "x" and primary eq true].locality',
    "members",
    'members[value eq "u1"]',
    'members[display eq "x"]',
    "members.value",
    "active",
    "roles",
    "id",
    "groups",
    "password",
    "schemas",
    ENTERPRISE,
    f"{ENTERPRISE}:manager",
    f"{ENTERPRISE}:manager.value",
    'manager[value eq "m"]',
    "urn:example:unknown",
    "[",
    "a.b.c",
]
SCALARS: list[Any] = [None, True, False, 0, 1.5, "", "x", "True", '{"value":1}', "u1"]
KEYS = [
    "value",
    "type",
    "primary",
    "display",
    "givenName",
    "members",
    "$ref",
    "name.givenName",
    ENTERPRISE,
    f"{ENTERPRISE}:department",
    "id",
    "schemas",
    "active",
    "userName",
    "nosuch",
]


def random_value(rnd: random.Random, depth: int = 0) -> Any:
    roll = rnd.random()
    if depth > 2 or roll < 0.3:
        return rnd.choice(SCALARS)
    if roll < 0.6:
        return [random_value(rnd, depth + 1) for _ in range(rnd.randint(0, 3))]
    return {
        rnd.choice(KEYS): random_value(rnd, depth + 1) for _ in range(rnd.randint(0, 3))
    }


def random_request(rnd: random.Random) -> dict[str, Any]:
    operations: list[dict[str, Any]] = []
    for _ in range(rnd.randint(0, 3)):
        operation: dict[str, Any] = {"op": rnd.choice(["add", "remove", "Replace"])}
        if rnd.random() < 0.9:
            operation["path"] = rnd.choice(PATHS)
        if rnd.random() < 0.8:
            operation["value"] = random_value(rnd)
        operations.append(operation)
    return {"Operations": operations}


@pytest.mark.parametrize("seed", range(4))
def test_random_patches_raise_only_scim_errors_and_store_normal_documents(
    seed: int,
) -> None:
    rnd = random.Random(seed)
    for _ in range(500):
        resource_type, document = (USERS, ANN) if rnd.random() < 0.6 else (GROUPS, LAB)
        members = (
            [Member("u1"), Member("u2", display="x")] if rnd.random() < 0.5 else None
        )
        try:
            operations = parse_patch_request(random_request(rnd))
            result = apply_patch(
                REGISTRY, resource_type, document, operations, members=members
            )
        except (ScimError, MembersRequired):
            continue

        again = normalize_resource(REGISTRY, resource_type, result.document)
        assert again.document == result.document
