"""A group PATCH that only adds or removes members, through HTTP, on every backend.

Such a request is one backend write (`Backend.change_members`); what a client
sees must be what any other PATCH gives: 204, the same errors in the same
order, If-Match honoured.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.scim_calls import ERROR, GROUP_SCHEMA, PATCH_OP, create_user


async def _group(client: httpx.AsyncClient, members: list[str] | None = None) -> str:
    body: dict[str, Any] = {"schemas": [GROUP_SCHEMA], "displayName": "Sales"}
    if members:
        body["members"] = [{"value": member} for member in members]
    response = await client.post("/Groups", json=body)
    assert response.status_code == 201, response.text
    group_id: str = response.json()["id"]
    return group_id


async def _user(client: httpx.AsyncClient, name: str) -> str:
    response = await create_user(client, name)
    assert response.status_code == 201, response.text
    user_id: str = response.json()["id"]
    return user_id


async def _patch(
    client: httpx.AsyncClient,
    group_id: str,
    *operations: dict[str, Any],
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> httpx.Response:
    body = {"schemas": [PATCH_OP], "Operations": list(operations)}
    return await client.patch(
        f"/Groups/{group_id}", json=body, headers=headers, params=params
    )


def _add(*ids: str) -> dict[str, Any]:
    return {"op": "add", "path": "members", "value": [{"value": i} for i in ids]}


async def _read(client: httpx.AsyncClient, group_id: str) -> httpx.Response:
    return await client.get(f"/Groups/{group_id}")


def _member_ids(read: httpx.Response) -> list[str]:
    return sorted(member["value"] for member in read.json().get("members", []))


class TestMemberPatch:
    async def test_an_add_answers_204_and_moves_the_etag_by_one(
        self, client: httpx.AsyncClient
    ) -> None:
        ann = await _user(client, "ann@example.com")
        group_id = await _group(client)
        before = await _read(client, group_id)

        response = await _patch(client, group_id, _add(ann))

        after = await _read(client, group_id)
        assert (response.status_code, response.content) == (204, b"")
        assert _member_ids(after) == [ann]
        assert before.headers["etag"] == 'W/"1"'
        assert after.headers["etag"] == 'W/"2"'
        assert (
            after.json()["meta"]["lastModified"]
            >= (before.json()["meta"]["lastModified"])
        )

    async def test_entra_removal_by_value_filter_answers_204(
        self, client: httpx.AsyncClient
    ) -> None:
        ann = await _user(client, "ann@example.com")
        bo = await _user(client, "bo@example.com")
        group_id = await _group(client, [ann, bo])

        response = await _patch(
            client,
            group_id,
            {"op": "remove", "path": f'members[value eq "{ann}"]'},
            {"op": "remove", "path": "members", "value": [{"value": "nobody"}]},
        )

        assert response.status_code == 204
        assert _member_ids(await _read(client, group_id)) == [bo]

    async def test_the_current_if_match_lets_it_through(
        self, client: httpx.AsyncClient
    ) -> None:
        ann = await _user(client, "ann@example.com")
        group_id = await _group(client)
        tag = (await _read(client, group_id)).headers["etag"]

        response = await _patch(client, group_id, _add(ann), headers={"If-Match": tag})

        assert response.status_code == 204
        assert _member_ids(await _read(client, group_id)) == [ann]

    async def test_a_list_of_tags_holding_the_current_one_lets_it_through(
        self, client: httpx.AsyncClient
    ) -> None:
        ann = await _user(client, "ann@example.com")
        group_id = await _group(client)
        tags = f'W/"7", {(await _read(client, group_id)).headers["etag"]}'

        response = await _patch(client, group_id, _add(ann), headers={"If-Match": tags})

        assert response.status_code == 204
        assert _member_ids(await _read(client, group_id)) == [ann]

    async def test_a_stale_if_match_is_412_and_changes_nothing(
        self, client: httpx.AsyncClient
    ) -> None:
        ann = await _user(client, "ann@example.com")
        group_id = await _group(client)

        response = await _patch(
            client, group_id, _add(ann), headers={"If-Match": 'W/"9"'}
        )

        after = await _read(client, group_id)
        assert response.status_code == 412
        assert response.json() == {
            "schemas": [ERROR],
            "status": "412",
            "detail": 'If-Match names another version; this one is at W/"1"',
        }
        assert (_member_ids(after), after.headers["etag"]) == ([], 'W/"1"')

    async def test_an_unknown_group_is_404(self, client: httpx.AsyncClient) -> None:
        ann = await _user(client, "ann@example.com")

        response = await _patch(client, "no-such-group", _add(ann))

        assert response.status_code == 404
        assert response.json() == {
            "schemas": [ERROR],
            "status": "404",
            "detail": "Group no-such-group not found",
        }

    async def test_an_unknown_group_is_404_before_a_bad_member_value(
        self, client: httpx.AsyncClient
    ) -> None:
        bad = {"op": "add", "path": "members", "value": [{"display": "no value"}]}

        response = await _patch(client, "no-such-group", bad)

        assert response.status_code == 404

    async def test_a_stale_if_match_is_412_before_an_unknown_member(
        self, client: httpx.AsyncClient
    ) -> None:
        group_id = await _group(client)

        response = await _patch(
            client, group_id, _add("ghost"), headers={"If-Match": 'W/"9"'}
        )

        assert response.status_code == 412

    async def test_an_unknown_member_is_invalid_value_and_changes_nothing(
        self, client: httpx.AsyncClient
    ) -> None:
        ann = await _user(client, "ann@example.com")
        bo = await _user(client, "bo@example.com")
        group_id = await _group(client, [ann])

        response = await _patch(
            client,
            group_id,
            {"op": "remove", "path": "members", "value": [{"value": ann}]},
            _add(bo, "ghost"),
        )

        after = await _read(client, group_id)
        assert response.status_code == 400
        assert response.json() == {
            "schemas": [ERROR],
            "status": "400",
            "scimType": "invalidValue",
            "detail": "members: no user or group with id ghost",
        }
        assert (_member_ids(after), after.headers["etag"]) == ([ann], 'W/"2"')

    async def test_the_group_itself_is_refused_as_a_member(
        self, client: httpx.AsyncClient
    ) -> None:
        group_id = await _group(client)

        response = await _patch(client, group_id, _add(group_id))

        assert response.status_code == 400
        assert response.json()["detail"] == (
            "members: a group cannot be a member of itself"
        )

    async def test_asking_for_attributes_answers_200_with_the_group(
        self, client: httpx.AsyncClient
    ) -> None:
        ann = await _user(client, "ann@example.com")
        group_id = await _group(client)

        response = await _patch(
            client, group_id, _add(ann), params={"attributes": "members"}
        )

        assert response.status_code == 200
        assert [m["value"] for m in response.json()["members"]] == [ann]
        assert response.headers["etag"] == 'W/"2"'
