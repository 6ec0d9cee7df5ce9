"""SCIM requests that several end-to-end tests send, and the names they use."""

from __future__ import annotations

from typing import Any

import httpx

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


def spelled(name: str, variant: int) -> str:
    """`name` in a letter case that differs from one variant to the next."""
    return "".join(
        letter.upper() if (variant >> (i % 6)) & 1 else letter
        for i, letter in enumerate(name)
    )


async def create_user(client: httpx.AsyncClient, user_name: str) -> httpx.Response:
    return await client.post(
        "/Users", json={"schemas": [USER_SCHEMA], "userName": user_name}
    )


async def add_member(
    client: httpx.AsyncClient,
    group_id: str,
    member_id: str,
    *,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    operation: dict[str, Any] = {
        "op": "add",
        "path": "members",
        "value": [{"value": member_id}],
    }
    return await client.patch(
        f"/Groups/{group_id}",
        json={"schemas": [PATCH_OP], "Operations": [operation]},
        headers=headers,
    )


async def remove_member(
    client: httpx.AsyncClient, group_id: str, member_id: str
) -> httpx.Response:
    """Entra's removal: a `remove` whose path filters members by value."""
    operation = {"op": "remove", "path": f'members[value eq "{member_id}"]'}
    return await client.patch(
        f"/Groups/{group_id}", json={"schemas": [PATCH_OP], "Operations": [operation]}
    )
