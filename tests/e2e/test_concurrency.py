"""Concurrent requests through HTTP, on every backend: no lost write, no 500.

Identity providers run several provisioning threads; two of them may create
the same user, or add members to one group, at the same moment.
"""

from __future__ import annotations

import asyncio

import httpx

from tests.e2e.scim_calls import (
    ERROR,
    GROUP_SCHEMA,
    add_member,
    create_user,
    remove_member,
    spelled,
)

ATTEMPTS = 50


async def test_concurrent_creates_of_one_user_name_store_exactly_one(
    client: httpx.AsyncClient,
) -> None:
    names = [spelled("ann.lee@example.com", i) for i in range(ATTEMPTS)]

    responses = await asyncio.gather(*(create_user(client, name) for name in names))
    stored = await client.get(
        "/Users", params={"filter": 'userName eq "ANN.LEE@EXAMPLE.COM"'}
    )

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] + [409] * (ATTEMPTS - 1)
    for refused in (r for r in responses if r.status_code == 409):
        body = refused.json()
        assert body["schemas"] == [ERROR]
        assert body["status"] == "409"
        assert body["scimType"] == "uniqueness"
        assert "userName" in body["detail"]
    assert stored.status_code == 200
    assert stored.json()["totalResults"] == 1
    (winner,) = (r for r in responses if r.status_code == 201)
    assert stored.json()["Resources"][0]["id"] == winner.json()["id"]


async def test_concurrent_patches_adding_members_keep_every_member(
    client: httpx.AsyncClient,
) -> None:
    users = [await create_user(client, f"member-{i}@example.com") for i in range(20)]
    group = await client.post(
        "/Groups", json={"schemas": [GROUP_SCHEMA], "displayName": "Engineering"}
    )
    group_id = group.json()["id"]
    user_ids = {user.json()["id"] for user in users}

    responses = await asyncio.gather(
        *(add_member(client, group_id, user_id) for user_id in user_ids)
    )
    read = await client.get(f"/Groups/{group_id}", params={"attributes": "members"})

    assert [response.status_code for response in responses] == [204] * len(user_ids)
    assert read.status_code == 200
    assert {member["value"] for member in read.json()["members"]} == user_ids


async def test_concurrent_member_patches_with_one_if_match_apply_once(
    client: httpx.AsyncClient,
) -> None:
    users = [await create_user(client, f"member-{i}@example.com") for i in range(10)]
    group = await client.post(
        "/Groups", json={"schemas": [GROUP_SCHEMA], "displayName": "Engineering"}
    )
    group_id, tag = group.json()["id"], group.headers["etag"]

    responses = await asyncio.gather(
        *(
            add_member(client, group_id, user.json()["id"], headers={"If-Match": tag})
            for user in users
        )
    )
    read = await client.get(f"/Groups/{group_id}")

    statuses = [response.status_code for response in responses]
    assert sorted(statuses) == [204] + [412] * 9
    winner = users[statuses.index(204)].json()["id"]
    assert [member["value"] for member in read.json()["members"]] == [winner]
    for refused in (r for r in responses if r.status_code == 412):
        assert refused.json() == {
            "schemas": [ERROR],
            "status": "412",
            "detail": "If-Match names another version; this one is at "
            + read.headers["etag"],
        }


async def test_concurrent_member_adds_and_removes_keep_the_version_count(
    client: httpx.AsyncClient,
) -> None:
    users = [await create_user(client, f"member-{i}@example.com") for i in range(20)]
    ids = [user.json()["id"] for user in users]
    group = await client.post(
        "/Groups",
        json={
            "schemas": [GROUP_SCHEMA],
            "displayName": "Engineering",
            "members": [{"value": i} for i in ids[:10]],
        },
    )
    group_id = group.json()["id"]
    version = int(group.headers["etag"].removeprefix('W/"').rstrip('"'))

    responses = await asyncio.gather(
        *(remove_member(client, group_id, i) for i in ids[:10]),
        *(add_member(client, group_id, i) for i in ids[10:]),
    )
    read = await client.get(f"/Groups/{group_id}")

    assert [response.status_code for response in responses] == [204] * 20
    assert {member["value"] for member in read.json()["members"]} == set(ids[10:])
    assert read.headers["etag"] == f'W/"{version + 20}"'


async def test_concurrent_patches_and_creates_never_answer_500(
    client: httpx.AsyncClient,
) -> None:
    """Writes of every kind racing on one group and one name are each answered."""
    users = [await create_user(client, f"racer-{i}@example.com") for i in range(10)]
    group = await client.post(
        "/Groups", json={"schemas": [GROUP_SCHEMA], "displayName": "Racers"}
    )
    group_id = group.json()["id"]
    adds = [add_member(client, group_id, user.json()["id"]) for user in users]
    creates = [create_user(client, spelled("bo.yi@example.com", i)) for i in range(10)]

    responses = await asyncio.gather(*adds, *creates)
    read = await client.get(f"/Groups/{group_id}", params={"attributes": "members"})

    assert [response.status_code for response in responses[:10]] == [204] * 10
    assert sorted(response.status_code for response in responses[10:]) == (
        [201] + [409] * 9
    )
    assert len(read.json()["members"]) == 10
