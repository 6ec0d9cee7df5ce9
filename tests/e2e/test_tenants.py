"""Tenants over HTTP, on every backend: nothing of one reaches another."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from scim_gateway import Backend, CredentialStore, Settings, create_app
from scim_gateway.auth import StoredTokens, hash_token

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SEARCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
ACME_TOKEN = "acme-token-0123456789"
GLOBEX_TOKEN = "globex-token-0123456789"
MADE_UP_ID = "00000000-0000-4000-8000-000000000000"


def store(backend: Backend) -> CredentialStore:
    assert isinstance(backend, CredentialStore)
    return backend


@pytest.fixture
async def app(backend: Backend) -> Starlette:
    credentials = store(backend)
    await credentials.add_token("acme", hash_token(ACME_TOKEN))
    await credentials.add_token("globex", hash_token(GLOBEX_TOKEN))
    return create_app(
        settings=Settings(database="memory", tenant_in_path=True),
        backend=backend,
        authenticate=StoredTokens(credentials, ttl=0),
    )


def client_for(app: Starlette, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver/scim/v2/",
        headers={"Authorization": f"Bearer {token}"},
    )


@pytest.fixture
async def acme(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app, ACME_TOKEN) as client:
        yield client


@pytest.fixture
async def globex(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app, GLOBEX_TOKEN) as client:
        yield client


async def create(
    client: httpx.AsyncClient, endpoint: str, body: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post(endpoint, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def user(client: httpx.AsyncClient, name: str) -> str:
    created = await create(
        client, "Users", {"schemas": [USER_SCHEMA], "userName": name}
    )
    return str(created["id"])


async def group(client: httpx.AsyncClient, name: str, members: list[str]) -> str:
    body = {
        "schemas": [GROUP_SCHEMA],
        "displayName": name,
        "members": [{"value": member} for member in members],
    }
    return str((await create(client, "Groups", body))["id"])


def without(text: str, resource_id: str) -> str:
    """An answer with the id it names blanked, to compare with another's."""
    return text.replace(resource_id, "<id>")


async def test_the_same_user_name_lives_in_two_tenants(
    acme: httpx.AsyncClient, globex: httpx.AsyncClient
) -> None:
    first = await user(acme, "ann@example.com")

    second = await user(globex, "ANN@example.com")

    assert first != second


async def test_another_tenants_user_reads_as_one_that_never_existed(
    acme: httpx.AsyncClient, globex: httpx.AsyncClient
) -> None:
    theirs = await user(globex, "ann@example.com")

    foreign = await acme.get(f"Users/{theirs}")
    made_up = await acme.get(f"Users/{MADE_UP_ID}")

    assert foreign.status_code == made_up.status_code == 404
    assert without(foreign.text, theirs) == without(made_up.text, MADE_UP_ID)


async def test_lists_filters_and_searches_see_only_the_tenant(
    acme: httpx.AsyncClient, globex: httpx.AsyncClient
) -> None:
    ours = await user(acme, "ann@example.com")
    theirs = await user(globex, "ann@example.com")
    await group(globex, "Sales", [theirs])
    search = {"schemas": [SEARCH_SCHEMA], "filter": 'userName eq "ann@example.com"'}

    answers = [
        await acme.get("Users"),
        await acme.get("Users", params={"filter": 'userName eq "ann@example.com"'}),
        await acme.post("Users/.search", json=search),
        await acme.post(".search", json={**search, "filter": "id pr"}),
        await acme.post(".search", json={"schemas": [SEARCH_SCHEMA]}),
    ]
    by_id = await acme.get("Users", params={"filter": f'id eq "{theirs}"'})
    by_member = await acme.get(
        "Groups", params={"filter": f'members.value eq "{theirs}"'}
    )

    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert [r["id"] for r in answer.json()["Resources"]] == [ours]
    assert by_id.json()["totalResults"] == 0
    assert by_member.json()["totalResults"] == 0


async def test_members_of_another_tenant_are_refused_like_made_up_ids(
    acme: httpx.AsyncClient, globex: httpx.AsyncClient
) -> None:
    theirs = await user(globex, "bo@example.com")
    sales = await group(acme, "Sales", [])

    answers = {
        member: await acme.patch(
            f"Groups/{sales}",
            json={
                "schemas": [PATCH_SCHEMA],
                "Operations": [
                    {"op": "add", "path": "members", "value": [{"value": member}]}
                ],
            },
        )
        for member in (theirs, MADE_UP_ID)
    }
    members = await acme.get(f"Groups/{sales}")

    assert answers[theirs].status_code == 400
    assert answers[theirs].json()["scimType"] == "invalidValue"
    assert without(answers[theirs].text, theirs) == without(
        answers[MADE_UP_ID].text, MADE_UP_ID
    )
    assert members.json().get("members", []) == []


async def test_creating_or_replacing_a_group_with_foreign_members_is_refused(
    acme: httpx.AsyncClient, globex: httpx.AsyncClient
) -> None:
    theirs = await user(globex, "bo@example.com")
    sales = await group(acme, "Sales", [])
    body = {
        "schemas": [GROUP_SCHEMA],
        "displayName": "Sales",
        "members": [{"value": theirs}],
    }

    created = await acme.post("Groups", json={**body, "displayName": "Other"})
    replaced = await acme.put(f"Groups/{sales}", json=body)

    assert (created.status_code, replaced.status_code) == (400, 400)
    assert (await acme.get("Groups")).json()["totalResults"] == 1


async def test_writes_to_another_tenants_resources_find_nothing_and_change_nothing(
    acme: httpx.AsyncClient, globex: httpx.AsyncClient
) -> None:
    theirs = await user(globex, "bo@example.com")
    before = (await globex.get(f"Users/{theirs}")).json()
    patch = {
        "schemas": [PATCH_SCHEMA],
        "Operations": [{"op": "replace", "path": "active", "value": False}],
    }

    answers = [
        await acme.put(
            f"Users/{theirs}", json={"schemas": [USER_SCHEMA], "userName": "x"}
        ),
        await acme.patch(f"Users/{theirs}", json=patch),
        await acme.delete(f"Users/{theirs}"),
    ]

    assert [answer.status_code for answer in answers] == [404, 404, 404]
    assert (await globex.get(f"Users/{theirs}")).json() == before


class TestTenantInPath:
    async def test_tenant_path_serves_the_tokens_tenant_with_its_own_urls(
        self, acme: httpx.AsyncClient
    ) -> None:
        created = await acme.post(
            "acme/Users", json={"schemas": [USER_SCHEMA], "userName": "ann"}
        )
        listed = await acme.get("Users")

        location = f"http://testserver/scim/v2/acme/Users/{created.json()['id']}"
        assert created.status_code == 201
        assert created.headers["Location"] == location
        assert created.json()["meta"]["location"] == location
        assert [r["id"] for r in listed.json()["Resources"]] == [created.json()["id"]]

    @pytest.mark.parametrize("path", ["globex/Users", "nosuch/Users", "globex/Schemas"])
    async def test_a_tenant_the_token_does_not_name_is_401_whether_or_not_it_exists(
        self, acme: httpx.AsyncClient, path: str
    ) -> None:
        response = await acme.get(path)

        assert response.status_code == 401
        assert response.json()["detail"] == "the bearer token is not valid for this URL"

    async def test_without_the_setting_a_tenant_path_is_no_endpoint(
        self, backend: Backend
    ) -> None:
        app = create_app(
            settings=Settings(database="memory"), backend=backend, tokens=ACME_TOKEN
        )

        async with client_for(app, ACME_TOKEN) as client:
            response = await client.get("default/Users")

        assert response.status_code == 404


async def test_two_tokens_of_a_tenant_work_until_one_is_revoked(
    app: Starlette, backend: Backend
) -> None:
    credentials = store(backend)
    second = "acme-second-token-0123456789"
    record = await credentials.add_token("acme", hash_token(second))

    async with client_for(app, ACME_TOKEN) as first, client_for(app, second) as other:
        both = [
            (await first.get("Users")).status_code,
            (await other.get("Users")).status_code,
        ]
        await credentials.revoke_token(record.id)
        after = [
            (await first.get("Users")).status_code,
            (await other.get("Users")).status_code,
        ]

    assert (both, after) == ([200, 200], [200, 401])
