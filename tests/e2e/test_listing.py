"""List requests through HTTP: paging, sorting, projection, search, errors."""

from __future__ import annotations

import httpx
import pytest

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


async def create_users(client: httpx.AsyncClient, *names: str) -> list[str]:
    ids = []
    for name in names:
        response = await client.post(
            "/Users", json={"schemas": [USER], "userName": name}
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


async def test_page_reports_total_and_actual_page_size(
    client: httpx.AsyncClient,
) -> None:
    await create_users(client, "a@example.com", "b@example.com", "c@example.com")

    response = await client.get("/Users", params={"startIndex": "2", "count": "5"})

    body = response.json()
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/scim+json")
    assert (body["totalResults"], body["itemsPerPage"], body["startIndex"]) == (3, 2, 2)
    assert [r["userName"] for r in body["Resources"]] == [
        "b@example.com",
        "c@example.com",
    ]


async def test_count_above_maximum_is_clamped(client: httpx.AsyncClient) -> None:
    await create_users(client, "a@example.com")

    response = await client.get("/Users", params={"count": "100000000"})

    assert response.status_code == 200
    assert response.json()["itemsPerPage"] == 1


async def test_sort_descending_by_user_name(client: httpx.AsyncClient) -> None:
    await create_users(client, "b@example.com", "C@example.com", "a@example.com")

    response = await client.get(
        "/Users", params={"sortBy": "userName", "sortOrder": "descending"}
    )

    names = [r["userName"] for r in response.json()["Resources"]]
    assert names == ["C@example.com", "b@example.com", "a@example.com"]


@pytest.mark.parametrize("sort_by", ["members", "groups"])
async def test_sort_by_membership_is_invalid_value(
    client: httpx.AsyncClient, sort_by: str
) -> None:
    resource = "/Groups" if sort_by == "members" else "/Users"

    response = await client.get(resource, params={"sortBy": sort_by})

    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidValue"
    assert sort_by in response.json()["detail"]


async def test_root_search_pages_across_users_and_groups(
    client: httpx.AsyncClient,
) -> None:
    await create_users(client, "a@example.com", "b@example.com")
    group = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "G",
    }
    await client.post("/Groups", json=group)

    response = await client.post(
        "/.search",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "startIndex": 2,
            "count": 2,
        },
    )

    body = response.json()
    assert body["totalResults"] == 3
    assert [r.get("userName", r.get("displayName")) for r in body["Resources"]] == [
        "b@example.com",
        "G",
    ]


async def test_invalid_filter_names_the_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/Users", params={"filter": 'userName eq "unclosed'})

    body = response.json()
    assert response.status_code == 400
    assert body["schemas"] == [ERROR]
    assert body["status"] == "400"
    assert body["scimType"] == "invalidFilter"
    assert "position" in body["detail"]


async def test_unknown_route_is_scim_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/Widgets")

    assert response.status_code == 404
    assert response.json()["schemas"] == [ERROR]


async def test_wrong_method_is_scim_405(client: httpx.AsyncClient) -> None:
    response = await client.delete("/Users")

    assert response.status_code == 405
    assert response.json()["status"] == "405"


async def test_bulk_is_not_implemented(client: httpx.AsyncClient) -> None:
    response = await client.post("/Bulk", json={})

    assert response.status_code == 501
    assert response.json()["schemas"] == [ERROR]


async def test_missing_token_is_401_with_scim_body(
    anonymous_client: httpx.AsyncClient,
) -> None:
    response = await anonymous_client.get("/Users")

    assert response.status_code == 401
    assert response.json()["status"] == "401"
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_accept_ruling_out_json_is_406(client: httpx.AsyncClient) -> None:
    response = await client.get("/Users", headers={"Accept": "text/html"})

    assert response.status_code == 406


async def test_xml_body_is_415(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/Users", content=b"<user/>", headers={"Content-Type": "application/xml"}
    )

    assert response.status_code == 415


async def test_etag_and_if_match(client: httpx.AsyncClient) -> None:
    (user_id,) = await create_users(client, "a@example.com")
    read = await client.get(f"/Users/{user_id}")
    tag = read.headers["etag"]
    patch = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "title", "value": "Dr"}],
    }

    stale = await client.patch(
        f"/Users/{user_id}", json=patch, headers={"If-Match": 'W/"999"'}
    )
    fresh = await client.patch(
        f"/Users/{user_id}", json=patch, headers={"If-Match": tag}
    )
    unchanged = await client.get(
        f"/Users/{user_id}", headers={"If-None-Match": fresh.headers["etag"]}
    )

    assert read.json()["meta"]["version"] == tag
    assert stale.status_code == 412
    assert fresh.status_code == 200
    assert fresh.headers["etag"] != tag
    assert unchanged.status_code == 304


async def test_location_uses_public_url_when_configured(
    backend: object,
) -> None:
    from scim_gateway.app import create_app
    from scim_gateway.backends.base import Backend
    from scim_gateway.config import Settings

    assert isinstance(backend, Backend)
    app = create_app(
        settings=Settings(public_url="https://id.example.com/scim/v2/"),
        backend=backend,
        tokens="t0k3n-for-this-test",
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://internal:8000/scim/v2",
        headers={"Authorization": "Bearer t0k3n-for-this-test"},
    ) as client:
        response = await client.post(
            "/Users", json={"schemas": [USER], "userName": "a@example.com"}
        )

    location = f"https://id.example.com/scim/v2/Users/{response.json()['id']}"
    assert response.headers["location"] == location
    assert response.json()["meta"]["location"] == location


async def test_root_search_filters_on_an_attribute_only_users_have(
    client: httpx.AsyncClient,
) -> None:
    await create_users(client, "root@example.com", "other@example.com")
    group = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "G",
    }
    await client.post("/Groups", json=group)

    response = await client.post(
        "/.search",
        json={"filter": 'userName eq "ROOT@example.com"', "sortBy": "userName"},
    )
    unknown = await client.post("/.search", json={"filter": 'nosuch eq "x"'})

    assert response.status_code == 200
    assert response.json()["totalResults"] == 1
    assert unknown.status_code == 400
    assert unknown.json()["scimType"] == "invalidFilter"


@pytest.mark.parametrize("content_type", ["", ";;;==garbage", ";application/json"])
async def test_empty_or_garbage_content_type_is_415(
    client: httpx.AsyncClient, content_type: str
) -> None:
    response = await client.post(
        "/Users",
        content=b'{"userName": "a@example.com"}',
        headers={"Content-Type": content_type},
    )

    assert response.status_code == 415


async def test_entity_tag_lists_and_star(client: httpx.AsyncClient) -> None:
    (user_id,) = await create_users(client, "a@example.com")
    tag = (await client.get(f"/Users/{user_id}")).headers["etag"]

    listed = await client.get(
        f"/Users/{user_id}", headers={"If-None-Match": f'W/"999", {tag}'}
    )
    star = await client.get(f"/Users/{user_id}", headers={"If-None-Match": "*"})
    deleted = await client.delete(
        f"/Users/{user_id}", headers={"If-Match": f'W/"999", {tag}'}
    )

    assert (listed.status_code, star.status_code, deleted.status_code) == (
        304,
        304,
        204,
    )


async def test_group_cannot_contain_itself(client: httpx.AsyncClient) -> None:
    group = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "G",
    }
    group_id = (await client.post("/Groups", json=group)).json()["id"]

    response = await client.patch(
        f"/Groups/{group_id}",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [
                {"op": "add", "path": "members", "value": [{"value": group_id}]}
            ],
        },
    )

    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidValue"


async def test_created_user_shows_empty_groups_as_a_read_does(
    client: httpx.AsyncClient,
) -> None:
    created = await client.post("/Users", json={"userName": "a@example.com"})
    read = await client.get(f"/Users/{created.json()['id']}")

    assert created.json()["groups"] == read.json()["groups"] == []
    assert (
        "groups" not in (await client.post("/Groups", json={"displayName": "G"})).json()
    )


@pytest.mark.parametrize("value", ["١٢", "1_0", "twelve"])
async def test_start_index_takes_ascii_digits_only(
    client: httpx.AsyncClient, value: str
) -> None:
    response = await client.get("/Users", params={"startIndex": value})

    assert response.status_code == 400
    assert response.json()["scimType"] == "invalidValue"


async def test_me_and_bulk_ask_for_a_token_first(
    anonymous_client: httpx.AsyncClient,
) -> None:
    me = await anonymous_client.get("/Me")
    bulk = await anonymous_client.post("/Bulk", json={})

    assert (me.status_code, bulk.status_code) == (401, 401)
