"""The admin HTTP API: its own token, pending lists, confirm, resend and revoke."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette

from scim_gateway.app import create_app
from scim_gateway.backends.base import Backend
from scim_gateway.config import Settings
from scim_gateway.context import GatewayContext
from scim_gateway.plugins.base import InvitationEvent
from tests.conftest import TOKEN
from tests.invitations.conftest import (
    ADMIN_TOKEN,
    create_user,
    invitation_of,
    token_of,
    with_settings,
)
from tests.invitations.recording import RecordingDeliverer


async def accepted_user(
    client: httpx.AsyncClient,
    browser: httpx.AsyncClient,
    gateway: GatewayContext,
    recorder: RecordingDeliverer,
    user_name: str,
) -> str:
    user_id = await create_user(client, user_name)
    await gateway.outbox.drain()
    link = recorder.last_invite(user_id).accept_url
    response = await browser.post("/invitations/accept", data={"token": token_of(link)})
    assert response.status_code == 200
    return user_id


class TestAuthentication:
    async def test_scim_token_does_not_open_the_admin_api(
        self, admin: httpx.AsyncClient
    ) -> None:
        response = await admin.get("", headers={"Authorization": f"Bearer {TOKEN}"})

        assert response.status_code == 401
        assert response.json()["detail"] == "the admin token is not valid"

    async def test_admin_token_does_not_open_the_scim_api(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get(
            "/Users", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )

        assert response.status_code == 401

    async def test_missing_token_is_401(self, admin: httpx.AsyncClient) -> None:
        response = await admin.get("", headers={"Authorization": ""})

        assert response.status_code == 401

    async def test_admin_api_is_off_without_an_admin_token(
        self, backend: Backend, settings: Settings
    ) -> None:
        app = create_app(
            settings=with_settings(settings, admin_token=None),
            backend=backend,
            tokens=TOKEN,
        )
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as http:
            response = await http.get(
                "/admin/tenants/default/invitations",
                headers={"Authorization": f"Bearer {TOKEN}"},
            )

        assert response.status_code == 403
        assert "SCIM_GATEWAY_ADMIN_TOKEN" in response.json()["detail"]

    def test_admin_token_equal_to_the_scim_token_is_refused(
        self, backend: Backend, settings: Settings
    ) -> None:
        with pytest.raises(ValueError, match="differ"):
            create_app(
                settings=with_settings(settings, admin_token=TOKEN),
                backend=backend,
                tokens=TOKEN,
            )

    def test_short_admin_token_is_refused(
        self, backend: Backend, settings: Settings
    ) -> None:
        with pytest.raises(ValueError, match="16 characters"):
            create_app(
                settings=with_settings(settings, admin_token="short"),
                backend=backend,
                tokens=TOKEN,
            )


class TestList:
    async def test_lists_pending_users_by_default(
        self,
        client: httpx.AsyncClient,
        admin: httpx.AsyncClient,
        browser: httpx.AsyncClient,
        gateway: GatewayContext,
        recorder: RecordingDeliverer,
    ) -> None:
        invited = await create_user(client, "ann@example.com")
        accepted = await accepted_user(
            client, browser, gateway, recorder, "bo@example.com"
        )
        revoked = await create_user(client, "cy@example.com")
        await admin.post(f"/{revoked}/revoke")

        response = await admin.get("")

        body = response.json()
        assert response.status_code == 200
        assert body["total"] == 2
        assert [(i["userId"], i["state"]) for i in body["invitations"]] == [
            (invited, "invited"),
            (accepted, "accepted"),
        ]
        assert body["invitations"][0]["userName"] == "ann@example.com"

    async def test_lists_chosen_states_or_all(
        self, client: httpx.AsyncClient, admin: httpx.AsyncClient
    ) -> None:
        kept = await create_user(client, "ann@example.com")
        revoked = await create_user(client, "bo@example.com")
        await admin.post(f"/{revoked}/revoke")

        only_revoked = await admin.get("", params={"state": "revoked"})
        everyone = await admin.get("", params={"state": "all"})

        assert [i["userId"] for i in only_revoked.json()["invitations"]] == [revoked]
        assert [i["userId"] for i in everyone.json()["invitations"]] == [kept, revoked]

    async def test_unknown_state_is_invalid_value(
        self, admin: httpx.AsyncClient
    ) -> None:
        response = await admin.get("", params={"state": "pending"})

        assert response.status_code == 400
        assert response.json()["scimType"] == "invalidValue"
        assert "'pending'" in response.json()["detail"]

    async def test_one_invitation_by_user_id(
        self, client: httpx.AsyncClient, admin: httpx.AsyncClient
    ) -> None:
        user_id = await create_user(client, "ann@example.com")

        response = await admin.get(f"/{user_id}")
        missing = await admin.get("/no-such-user")

        assert response.json()["userId"] == user_id
        assert response.json()["state"] == "invited"
        assert missing.status_code == 404


class TestConfirm:
    async def test_confirms_an_accepted_user_and_tells_the_deliverer(
        self,
        client: httpx.AsyncClient,
        admin: httpx.AsyncClient,
        browser: httpx.AsyncClient,
        gateway: GatewayContext,
        recorder: RecordingDeliverer,
    ) -> None:
        user_id = await accepted_user(
            client, browser, gateway, recorder, "ann@example.com"
        )

        response = await admin.post(f"/{user_id}/confirm")
        await gateway.outbox.drain()

        assert response.status_code == 200
        assert response.json()["state"] == "confirmed"
        assert "confirmedAt" in (await invitation_of(client, user_id))
        assert recorder.events(user_id) == [
            InvitationEvent.INVITED,
            InvitationEvent.ACCEPTED,
            InvitationEvent.CONFIRMED,
        ]

    async def test_confirm_before_accept_is_a_conflict(
        self, client: httpx.AsyncClient, admin: httpx.AsyncClient
    ) -> None:
        user_id = await create_user(client, "ann@example.com")

        response = await admin.post(f"/{user_id}/confirm")

        assert response.status_code == 409
        assert response.json()["detail"] == (
            f"cannot confirm user {user_id}: the invitation is invited"
        )
        assert (await invitation_of(client, user_id))["state"] == "invited"

    async def test_confirm_without_accept_when_so_configured(
        self, backend: Backend, settings: Settings, recorder: RecordingDeliverer
    ) -> None:
        app = create_app(
            settings=with_settings(settings, confirm_without_accept=True),
            backend=backend,
            tokens=TOKEN,
            invitations=recorder,
        )
        async with (
            _client(app, TOKEN, "/scim/v2") as scim,
            _client(app, ADMIN_TOKEN, "/admin/tenants/default/invitations") as admin,
        ):
            user_id = await create_user(scim, "ann@example.com")
            response = await admin.post(f"/{user_id}/confirm")

        assert response.json()["state"] == "confirmed"

    async def test_confirm_twice_is_a_conflict(
        self,
        client: httpx.AsyncClient,
        admin: httpx.AsyncClient,
        browser: httpx.AsyncClient,
        gateway: GatewayContext,
        recorder: RecordingDeliverer,
    ) -> None:
        user_id = await accepted_user(
            client, browser, gateway, recorder, "ann@example.com"
        )
        await admin.post(f"/{user_id}/confirm")

        again = await admin.post(f"/{user_id}/confirm")
        revoke = await admin.post(f"/{user_id}/revoke")

        assert (again.status_code, revoke.status_code) == (409, 409)


class TestResendAndRevoke:
    async def test_resend_sends_a_new_link_and_the_old_one_stops_working(
        self,
        client: httpx.AsyncClient,
        admin: httpx.AsyncClient,
        browser: httpx.AsyncClient,
        gateway: GatewayContext,
        recorder: RecordingDeliverer,
    ) -> None:
        user_id = await create_user(client, "ann@example.com")
        await gateway.outbox.drain()
        old = recorder.last_invite(user_id).accept_url

        response = await admin.post(f"/{user_id}/resend")
        await gateway.outbox.drain()

        new = recorder.last_invite(user_id).accept_url
        assert response.json()["state"] == "invited"
        assert new != old
        old_page = await browser.post(
            "/invitations/accept", data={"token": token_of(old)}
        )
        assert old_page.status_code == 400

    async def test_resend_after_revoke_invites_again(
        self, client: httpx.AsyncClient, admin: httpx.AsyncClient
    ) -> None:
        user_id = await create_user(client, "ann@example.com")
        await admin.post(f"/{user_id}/revoke")

        response = await admin.post(f"/{user_id}/resend")

        assert response.json()["state"] == "invited"

    async def test_resend_to_an_accepted_user_is_a_conflict(
        self,
        client: httpx.AsyncClient,
        admin: httpx.AsyncClient,
        browser: httpx.AsyncClient,
        gateway: GatewayContext,
        recorder: RecordingDeliverer,
    ) -> None:
        user_id = await accepted_user(
            client, browser, gateway, recorder, "ann@example.com"
        )

        response = await admin.post(f"/{user_id}/resend")

        assert response.status_code == 409

    async def test_resend_to_a_missing_user_is_404(
        self, admin: httpx.AsyncClient
    ) -> None:
        response = await admin.post("/no-such-user/resend")

        assert response.status_code == 404

    async def test_revoke_spends_the_link(
        self,
        client: httpx.AsyncClient,
        admin: httpx.AsyncClient,
        browser: httpx.AsyncClient,
        gateway: GatewayContext,
        recorder: RecordingDeliverer,
    ) -> None:
        user_id = await create_user(client, "ann@example.com")
        await gateway.outbox.drain()

        response = await admin.post(f"/{user_id}/revoke")
        page = await browser.get(recorder.last_invite(user_id).accept_url or "")

        assert response.json()["state"] == "revoked"
        assert page.status_code == 400


class TestFailedDelivery:
    @pytest.fixture
    def recorder(self) -> RecordingDeliverer:
        return RecordingDeliverer(failures=3)

    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return with_settings(settings, delivery_max_attempts=3)

    async def test_last_failed_attempt_marks_the_invitation_failed(
        self,
        client: httpx.AsyncClient,
        admin: httpx.AsyncClient,
        gateway: GatewayContext,
        recorder: RecordingDeliverer,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        user_id = await create_user(client, "ann@example.com")

        await gateway.outbox.drain()

        state = await invitation_of(client, user_id)
        listed = (await admin.get(f"/{user_id}")).json()
        assert len(recorder.attempts) == 3
        assert recorder.delivered == []
        assert (state["deliveryStatus"], state["lastDeliveryError"]) == (
            "failed",
            "receiver down",
        )
        assert listed["deliveryStatus"] == "failed"
        errors = [r for r in caplog.records if r.levelname == "ERROR"]
        assert [r.getMessage().split()[0] for r in errors] == ["outbox.failed"]

    async def test_resend_after_failure_delivers(
        self,
        client: httpx.AsyncClient,
        admin: httpx.AsyncClient,
        gateway: GatewayContext,
        recorder: RecordingDeliverer,
    ) -> None:
        user_id = await create_user(client, "ann@example.com")
        await gateway.outbox.drain()

        await admin.post(f"/{user_id}/resend")
        await gateway.outbox.drain()

        state = await invitation_of(client, user_id)
        assert state["deliveryStatus"] == "delivered"
        assert "lastDeliveryError" not in state
        assert len(recorder.delivered) == 1


def _client(app: Starlette, token: str, path: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url=f"http://testserver{path}",
        headers={"Authorization": f"Bearer {token}"},
    )
