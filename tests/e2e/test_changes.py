"""Change events reach subscribed callbacks after commit, on every backend."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.types import Message

from scim_gateway import ChangeEvent, ChangeKind, Settings, create_app
from scim_gateway.backends.base import USER, Backend
from scim_gateway.backends.errors import NotFoundError

TOKEN = "changes-token-0123456789"
TENANT = "default"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


class Recorder:
    """A callback that keeps every event, and what the backend held at the time."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.events: list[ChangeEvent] = []
        self.visible: list[bool] = []

    async def __call__(self, event: ChangeEvent) -> None:
        self.events.append(event)
        if event.resource_type == USER:
            self.visible.append(await self._exists(event.resource_id))

    async def _exists(self, user_id: str) -> bool:
        try:
            await self.backend.get(TENANT, USER, user_id)
        except NotFoundError:
            return False
        return True

    def kinds(self) -> list[ChangeKind]:
        return [event.kind for event in self.events]


@pytest.fixture
def recorder(backend: Backend) -> Recorder:
    return Recorder(backend)


@pytest.fixture
def app(backend: Backend, recorder: Recorder) -> Starlette:
    return create_app(
        settings=Settings(database="memory"),
        backend=backend,
        tokens=TOKEN,
        on_change=[recorder],
    )


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver/scim/v2/",
        headers={"Authorization": f"Bearer {TOKEN}"},
    ) as http:
        yield http


async def create_user(client: httpx.AsyncClient, name: str) -> str:
    body = {"schemas": [USER_SCHEMA], "userName": name, "active": True}
    response = await client.post("Users", json=body)
    assert response.status_code == 201, response.text
    user_id: str = response.json()["id"]
    return user_id


async def create_group(
    client: httpx.AsyncClient, name: str, members: list[str] | None = None
) -> str:
    body: dict[str, Any] = {"schemas": [GROUP_SCHEMA], "displayName": name}
    if members:
        body["members"] = [{"value": member} for member in members]
    response = await client.post("Groups", json=body)
    assert response.status_code == 201, response.text
    group_id: str = response.json()["id"]
    return group_id


async def patch(
    client: httpx.AsyncClient, path: str, *operations: dict[str, Any]
) -> httpx.Response:
    body = {"schemas": [PATCH_SCHEMA], "Operations": list(operations)}
    return await client.patch(path, json=body)


class TestUserEvents:
    async def test_create_fires_user_created_once_committed(
        self, client: httpx.AsyncClient, recorder: Recorder
    ) -> None:
        user_id = await create_user(client, "ann@example.com")

        assert recorder.events == [
            ChangeEvent(ChangeKind.USER_CREATED, TENANT, "User", user_id)
        ]
        assert recorder.visible == [True]

    async def test_entra_style_deactivation_fires_user_deactivated(
        self, client: httpx.AsyncClient, recorder: Recorder
    ) -> None:
        user_id = await create_user(client, "ann@example.com")

        response = await patch(
            client,
            f"Users/{user_id}",
            {"op": "Replace", "path": "active", "value": "False"},
        )

        assert response.status_code == 200
        assert recorder.kinds() == [
            ChangeKind.USER_CREATED,
            ChangeKind.USER_DEACTIVATED,
        ]

    async def test_reactivation_and_attribute_change_are_told_apart(
        self, client: httpx.AsyncClient, recorder: Recorder
    ) -> None:
        user_id = await create_user(client, "ann@example.com")
        await patch(
            client, f"Users/{user_id}", {"op": "replace", "value": {"active": False}}
        )

        await patch(
            client, f"Users/{user_id}", {"op": "replace", "value": {"active": True}}
        )
        await patch(
            client, f"Users/{user_id}", {"op": "add", "path": "title", "value": "CFO"}
        )

        assert recorder.kinds() == [
            ChangeKind.USER_CREATED,
            ChangeKind.USER_DEACTIVATED,
            ChangeKind.USER_REACTIVATED,
            ChangeKind.USER_UPDATED,
        ]

    async def test_put_that_changes_nothing_fires_nothing(
        self, client: httpx.AsyncClient, recorder: Recorder
    ) -> None:
        user_id = await create_user(client, "ann@example.com")
        body = {"schemas": [USER_SCHEMA], "userName": "ann@example.com", "active": True}

        response = await client.put(f"Users/{user_id}", json=body)

        assert response.status_code == 200
        assert recorder.kinds() == [ChangeKind.USER_CREATED]

    async def test_delete_fires_user_deleted_and_ends_its_memberships(
        self, client: httpx.AsyncClient, recorder: Recorder
    ) -> None:
        user_id = await create_user(client, "ann@example.com")
        group_id = await create_group(client, "Sales", [user_id])
        recorder.events.clear()

        response = await client.delete(f"Users/{user_id}")

        assert response.status_code == 204
        assert recorder.events == [
            ChangeEvent(ChangeKind.USER_DELETED, TENANT, "User", user_id),
            ChangeEvent(
                ChangeKind.GROUP_MEMBERS_CHANGED,
                TENANT,
                "Group",
                group_id,
                removed_member_ids=(user_id,),
            ),
        ]
        assert recorder.visible == [True, False]

    async def test_failed_write_fires_nothing(
        self, client: httpx.AsyncClient, recorder: Recorder
    ) -> None:
        await create_user(client, "ann@example.com")
        body = {"schemas": [USER_SCHEMA], "userName": "ANN@example.com"}

        response = await client.post("Users", json=body)

        assert response.status_code == 409
        assert recorder.kinds() == [ChangeKind.USER_CREATED]


class TestGroupEvents:
    async def test_create_with_members_fires_created_and_members_changed(
        self, client: httpx.AsyncClient, recorder: Recorder
    ) -> None:
        ann = await create_user(client, "ann@example.com")
        recorder.events.clear()

        group_id = await create_group(client, "Sales", [ann])

        assert recorder.events == [
            ChangeEvent(ChangeKind.GROUP_CREATED, TENANT, "Group", group_id),
            ChangeEvent(
                ChangeKind.GROUP_MEMBERS_CHANGED,
                TENANT,
                "Group",
                group_id,
                added_member_ids=(ann,),
            ),
        ]

    async def test_patch_that_adds_and_removes_fires_one_members_event(
        self, client: httpx.AsyncClient, recorder: Recorder
    ) -> None:
        ann = await create_user(client, "ann@example.com")
        bo = await create_user(client, "bo@example.com")
        group_id = await create_group(client, "Sales", [ann])
        recorder.events.clear()

        response = await patch(
            client,
            f"Groups/{group_id}",
            {"op": "Add", "path": "members", "value": [{"value": bo}]},
            {"op": "Remove", "path": f'members[value eq "{ann}"]'},
        )

        assert response.status_code == 204
        assert recorder.events == [
            ChangeEvent(
                ChangeKind.GROUP_MEMBERS_CHANGED,
                TENANT,
                "Group",
                group_id,
                added_member_ids=(bo,),
                removed_member_ids=(ann,),
            )
        ]

    async def test_member_patch_refused_by_if_match_fires_nothing(
        self, client: httpx.AsyncClient, recorder: Recorder
    ) -> None:
        ann = await create_user(client, "ann@example.com")
        group_id = await create_group(client, "Sales")
        recorder.events.clear()
        body = {
            "schemas": [PATCH_SCHEMA],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": ann}]}],
        }

        response = await client.patch(
            f"Groups/{group_id}", json=body, headers={"If-Match": 'W/"99"'}
        )

        assert response.status_code == 412
        assert recorder.events == []

    async def test_member_patch_of_a_present_member_still_names_it(
        self, client: httpx.AsyncClient, recorder: Recorder
    ) -> None:
        """Events name the ids the client sent (see `ChangeEvent`)."""
        ann = await create_user(client, "ann@example.com")
        group_id = await create_group(client, "Sales", [ann])
        recorder.events.clear()

        response = await patch(
            client,
            f"Groups/{group_id}",
            {"op": "add", "path": "members", "value": [{"value": ann}]},
        )

        assert response.status_code == 204
        assert recorder.events == [
            ChangeEvent(
                ChangeKind.GROUP_MEMBERS_CHANGED,
                TENANT,
                "Group",
                group_id,
                added_member_ids=(ann,),
            )
        ]

    async def test_put_names_only_the_difference_of_the_member_lists(
        self, client: httpx.AsyncClient, recorder: Recorder
    ) -> None:
        ann = await create_user(client, "ann@example.com")
        bo = await create_user(client, "bo@example.com")
        cy = await create_user(client, "cy@example.com")
        group_id = await create_group(client, "Sales", [ann, bo])
        recorder.events.clear()
        body = {
            "schemas": [GROUP_SCHEMA],
            "displayName": "Sales EMEA",
            "members": [{"value": bo}, {"value": cy}],
        }

        response = await client.put(f"Groups/{group_id}", json=body)

        assert response.status_code == 200
        assert recorder.events == [
            ChangeEvent(ChangeKind.GROUP_UPDATED, TENANT, "Group", group_id),
            ChangeEvent(
                ChangeKind.GROUP_MEMBERS_CHANGED,
                TENANT,
                "Group",
                group_id,
                added_member_ids=(cy,),
                removed_member_ids=(ann,),
            ),
        ]

    async def test_delete_fires_group_deleted(
        self, client: httpx.AsyncClient, recorder: Recorder
    ) -> None:
        group_id = await create_group(client, "Sales")

        await client.delete(f"Groups/{group_id}")

        assert recorder.kinds()[-1] is ChangeKind.GROUP_DELETED


class TestCallbacks:
    async def test_failing_callback_is_logged_and_changes_nothing_else(
        self,
        app: Starlette,
        client: httpx.AsyncClient,
        recorder: Recorder,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        async def broken(event: ChangeEvent) -> None:
            raise RuntimeError("the embedder's bug")

        app.state.gateway.subscribe(broken)
        later = Recorder(recorder.backend)
        app.state.gateway.subscribe(later)

        with caplog.at_level(logging.ERROR, logger="scim_gateway.changes"):
            user_id = await create_user(client, "ann@example.com")

        assert later.kinds() == [ChangeKind.USER_CREATED]
        assert recorder.kinds() == [ChangeKind.USER_CREATED]
        (record,) = caplog.records
        assert record.getMessage().startswith(
            f"change_callback_failed kind=user.created id={user_id}"
        )
        assert record.exc_info is not None

    async def test_unsubscribed_callback_hears_no_more(
        self, app: Starlette, client: httpx.AsyncClient, backend: Backend
    ) -> None:
        extra = Recorder(backend)
        unsubscribe = app.state.gateway.subscribe(extra)
        await create_user(client, "ann@example.com")

        unsubscribe()
        await create_user(client, "bo@example.com")

        assert extra.kinds() == [ChangeKind.USER_CREATED]

    async def test_callbacks_run_after_the_response_is_sent(
        self, app: Starlette, recorder: Recorder
    ) -> None:
        sent: list[str] = []
        seen_when_called: list[list[str]] = []

        async def callback(event: ChangeEvent) -> None:
            seen_when_called.append(list(sent))

        app.state.gateway.subscribe(callback)

        await call_app(app, sent)

        assert sent == ["http.response.start", "http.response.body"]
        assert seen_when_called == [["http.response.start", "http.response.body"]]


async def call_app(app: Starlette, sent: list[str]) -> None:
    """POST one user through the raw ASGI interface, noting each message sent."""
    body = b'{"schemas": ["%s"], "userName": "ann"}' % USER_SCHEMA.encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/scim/v2/Users",
        "raw_path": b"/scim/v2/Users",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            (b"authorization", f"Bearer {TOKEN}".encode()),
            (b"content-type", b"application/scim+json"),
        ],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }
    messages: list[Message] = [
        {"type": "http.request", "body": body, "more_body": False}
    ]

    async def receive() -> Message:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message["type"])

    await app(scope, receive, send)
