"""The invitation lifecycle through the SCIM API, the accept page and the admin API."""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest

from scim_gateway.auth import generate_token, hash_token
from scim_gateway.backends.base import Backend
from scim_gateway.config import Settings
from scim_gateway.context import GatewayContext
from scim_gateway.plugins.base import InvitationEvent
from tests.invitations.conftest import (
    INVITATION,
    create_user,
    invitation_of,
    set_active,
    token_of,
    user,
)
from tests.invitations.recording import RecordingDeliverer

INVITED = InvitationEvent.INVITED
ACCEPTED = InvitationEvent.ACCEPTED
CONFIRMED = InvitationEvent.CONFIRMED
REVOKED = InvitationEvent.REVOKED


async def accept(browser: httpx.AsyncClient, accept_url: str | None) -> httpx.Response:
    return await browser.post(
        "/invitations/accept", data={"token": token_of(accept_url)}
    )


class TestInvite:
    async def test_created_user_is_invited_and_shows_its_state_when_asked(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.post(
            "/Users",
            json=user("ann.lee@example.com"),
            params={"attributes": f"userName,{INVITATION}"},
        )

        body = response.json()
        assert response.status_code == 201
        assert INVITATION in body["schemas"]
        assert body[INVITATION]["state"] == "invited"
        assert body[INVITATION]["deliveryStatus"] == "pending"
        assert {"invitedAt", "expiresAt"} <= set(body[INVITATION])

    async def test_default_responses_leave_the_extension_out(
        self, client: httpx.AsyncClient
    ) -> None:
        """Clients with strict User models refuse keys they do not know."""
        response = await client.post("/Users", json=user("ann@example.com"))

        assert INVITATION not in response.json()
        assert INVITATION not in response.json()["schemas"]

    async def test_invitation_is_delivered_after_commit_with_the_persons_details(
        self,
        client: httpx.AsyncClient,
        gateway: GatewayContext,
        recorder: RecordingDeliverer,
    ) -> None:
        user_id = await create_user(client, "ann.lee@example.com")

        await gateway.outbox.drain()

        (sent,) = recorder.delivered
        assert (sent.event, sent.user_id, sent.tenant) == (INVITED, user_id, "default")
        assert (sent.email, sent.display_name) == ("ann.lee@example.com", "Ann Lee")
        assert sent.organization == "Acme & Co"
        assert (sent.accept_url or "").startswith(
            "http://testserver/invitations/accept?token="
        )
        assert (await invitation_of(client, user_id))["deliveryStatus"] == "delivered"

    async def test_user_created_disabled_is_invited_when_enabled(
        self,
        client: httpx.AsyncClient,
        gateway: GatewayContext,
        recorder: RecordingDeliverer,
    ) -> None:
        user_id = await create_user(client, "ann@example.com", active=False)
        before = await invitation_of(client, user_id)

        await set_active(client, user_id, True)
        await gateway.outbox.drain()

        assert before == {}
        assert (await invitation_of(client, user_id))["state"] == "invited"
        assert recorder.events(user_id) == [INVITED]

    async def test_client_cannot_write_the_invitation_extension(
        self, client: httpx.AsyncClient
    ) -> None:
        body = user("ann@example.com", **{INVITATION: {"state": "confirmed"}})

        response = await client.post("/Users", json=body)

        assert (await invitation_of(client, response.json()["id"]))["state"] == (
            "invited"
        )

    async def test_groups_get_no_invitation(
        self, client: httpx.AsyncClient, gateway: GatewayContext
    ) -> None:
        response = await client.post(
            "/Groups",
            json={
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "Sales",
            },
        )

        assert INVITATION not in response.json()
        assert await gateway.outbox.drain() == 0

    async def test_list_shows_each_users_invitation(
        self, client: httpx.AsyncClient
    ) -> None:
        for name in ("ann@example.com", "bo@example.com"):
            await create_user(client, name)

        response = await client.get("/Users", params={"attributes": INVITATION})

        states = [r[INVITATION]["state"] for r in response.json()["Resources"]]
        assert states == ["invited", "invited"]

    async def test_one_attribute_of_the_extension_can_be_asked_for(
        self, client: httpx.AsyncClient
    ) -> None:
        user_id = await create_user(client, "ann@example.com")

        response = await client.get(
            f"/Users/{user_id}", params={"attributes": f"{INVITATION}:state"}
        )

        assert response.json()[INVITATION] == {"state": "invited"}


class TestAccept:
    async def test_opening_the_link_shows_a_button_and_accepts_nothing(
        self,
        client: httpx.AsyncClient,
        browser: httpx.AsyncClient,
        gateway: GatewayContext,
        recorder: RecordingDeliverer,
    ) -> None:
        user_id = await create_user(client, "ann@example.com")
        await gateway.outbox.drain()

        page = await browser.get(recorder.last_invite(user_id).accept_url or "")

        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert '<form method="post"' in page.text
        assert "Acme &amp; Co" in page.text
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["referrer-policy"] == "no-referrer"
        assert (await invitation_of(client, user_id))["state"] == "invited"

    async def test_posting_the_form_accepts_once(
        self,
        client: httpx.AsyncClient,
        browser: httpx.AsyncClient,
        gateway: GatewayContext,
        recorder: RecordingDeliverer,
    ) -> None:
        user_id = await create_user(client, "ann@example.com")
        await gateway.outbox.drain()
        link = recorder.last_invite(user_id).accept_url

        first = await accept(browser, link)
        second = await accept(browser, link)
        reopened = await browser.get(link or "")
        await gateway.outbox.drain()

        assert first.status_code == 200
        assert "Invitation accepted" in first.text
        assert second.status_code == 400
        assert "does not work" in second.text
        assert reopened.status_code == 400
        state = await invitation_of(client, user_id)
        assert state["state"] == "accepted"
        assert "acceptedAt" in state
        assert recorder.events(user_id) == [INVITED, ACCEPTED]

    async def test_unknown_token_is_refused(self, browser: httpx.AsyncClient) -> None:
        response = await browser.post(
            "/invitations/accept", data={"token": "not-a-token"}
        )

        assert response.status_code == 400

    @pytest.mark.parametrize("settings", [{"invitation_ttl_seconds": 0}], indirect=True)
    async def test_expired_link_is_refused_with_410(
        self,
        client: httpx.AsyncClient,
        browser: httpx.AsyncClient,
        gateway: GatewayContext,
        recorder: RecordingDeliverer,
    ) -> None:
        user_id = await create_user(client, "ann@example.com")
        await gateway.outbox.drain()

        response = await accept(browser, recorder.last_invite(user_id).accept_url)

        assert response.status_code == 410
        assert "expired" in response.text
        assert (await invitation_of(client, user_id))["state"] == "invited"

    async def test_host_application_accepts_through_the_python_api(
        self,
        client: httpx.AsyncClient,
        gateway: GatewayContext,
        recorder: RecordingDeliverer,
    ) -> None:
        user_id = await create_user(client, "ann@example.com")
        await gateway.outbox.drain()

        record = await gateway.invitations.accept(
            token_of(recorder.last_invite(user_id).accept_url)
        )

        assert (record.user_id, record.state.value) == (user_id, "accepted")

    async def test_a_link_sent_by_an_earlier_release_still_accepts(
        self,
        client: httpx.AsyncClient,
        browser: httpx.AsyncClient,
        backend: Backend,
        gateway: GatewayContext,
    ) -> None:
        # Earlier releases' tokens were 43 random characters with no time in
        # front, kept as their bare digest.
        user_id = await create_user(client, "ann@example.com")
        await gateway.outbox.drain()
        old_token = generate_token()
        async with backend.transaction("default") as tx:
            record = await tx.get_invitation(user_id)
            assert record is not None
            await tx.put_invitation(replace(record, token_digest=hash_token(old_token)))

        response = await browser.post("/invitations/accept", data={"token": old_token})

        assert response.status_code == 200, response.text
        assert (await invitation_of(client, user_id))["state"] == "accepted"

    async def test_a_token_with_another_time_or_secret_is_refused(
        self,
        client: httpx.AsyncClient,
        browser: httpx.AsyncClient,
        gateway: GatewayContext,
        recorder: RecordingDeliverer,
    ) -> None:
        user_id = await create_user(client, "ann@example.com")
        await gateway.outbox.drain()
        token = token_of(recorder.last_invite(user_id).accept_url)
        made, secret = token.split(".")
        forged = [
            f"{int(made, 16) + 1:012x}.{secret}",
            f"{made}.{secret[:-1]}{'A' if secret[-1] != 'A' else 'B'}",
            secret,
            f"{made}.",
        ]

        answers = [
            (await browser.post("/invitations/accept", data={"token": t})).status_code
            for t in forged
        ]

        assert answers == [400, 400, 400, 400]
        assert (await invitation_of(client, user_id))["state"] == "invited"


class TestDisableAndDelete:
    async def test_disabling_before_confirmation_revokes(
        self,
        client: httpx.AsyncClient,
        gateway: GatewayContext,
        recorder: RecordingDeliverer,
    ) -> None:
        user_id = await create_user(client, "ann@example.com")

        await set_active(client, user_id, False)
        await gateway.outbox.drain()

        state = await invitation_of(client, user_id)
        assert state["state"] == "revoked"
        assert "revokedAt" in state
        assert recorder.events(user_id) == [INVITED, REVOKED]

    async def test_reenabling_invites_again_with_a_new_link(
        self,
        client: httpx.AsyncClient,
        browser: httpx.AsyncClient,
        gateway: GatewayContext,
        recorder: RecordingDeliverer,
    ) -> None:
        user_id = await create_user(client, "ann@example.com")
        await gateway.outbox.drain()
        old_link = recorder.last_invite(user_id).accept_url
        await set_active(client, user_id, False)

        await set_active(client, user_id, True)
        await gateway.outbox.drain()

        new_link = recorder.last_invite(user_id).accept_url
        assert recorder.events(user_id) == [INVITED, REVOKED, INVITED]
        assert new_link != old_link
        assert (await accept(browser, old_link)).status_code == 400
        assert (await accept(browser, new_link)).status_code == 200

    @pytest.mark.parametrize("settings", [{"reinvite_on_enable": False}], indirect=True)
    async def test_reenabling_leaves_revoked_when_so_configured(
        self, client: httpx.AsyncClient
    ) -> None:
        user_id = await create_user(client, "ann@example.com")
        await set_active(client, user_id, False)

        await set_active(client, user_id, True)

        assert (await invitation_of(client, user_id))["state"] == "revoked"

    async def test_put_that_disables_revokes(self, client: httpx.AsyncClient) -> None:
        user_id = await create_user(client, "ann@example.com")

        await client.put(
            f"/Users/{user_id}", json=user("ann@example.com", active=False)
        )

        assert (await invitation_of(client, user_id))["state"] == "revoked"

    async def test_deleting_an_invited_user_revokes_and_tells_the_deliverer(
        self,
        client: httpx.AsyncClient,
        gateway: GatewayContext,
        recorder: RecordingDeliverer,
    ) -> None:
        user_id = await create_user(client, "ann@example.com")

        deleted = await client.delete(f"/Users/{user_id}")
        await gateway.outbox.drain()

        assert deleted.status_code == 204
        assert recorder.events(user_id) == [INVITED, REVOKED]
        assert recorder.delivered[-1].email == "ann@example.com"

    async def test_a_confirmed_user_stays_confirmed_when_disabled(
        self,
        client: httpx.AsyncClient,
        admin: httpx.AsyncClient,
        gateway: GatewayContext,
        recorder: RecordingDeliverer,
        browser: httpx.AsyncClient,
    ) -> None:
        user_id = await create_user(client, "ann@example.com")
        await gateway.outbox.drain()
        await accept(browser, recorder.last_invite(user_id).accept_url)
        await admin.post(f"/{user_id}/confirm")

        await set_active(client, user_id, False)

        assert (await invitation_of(client, user_id))["state"] == "confirmed"


@pytest.fixture
def settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """The shared settings, changed by a test's `indirect` parameter if any."""
    changes = getattr(request, "param", {})
    return Settings(**{**settings.__dict__, **changes})


class TestSearch:
    async def test_filter_on_the_invitation_state_is_refused(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get(
            "/Users", params={"filter": f'{INVITATION}:state eq "invited"'}
        )

        assert response.status_code == 400
        assert response.json()["scimType"] == "invalidFilter"
        assert "admin API" in response.json()["detail"]

    async def test_sort_by_the_invitation_state_is_refused(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get("/Users", params={"sortBy": f"{INVITATION}:state"})

        assert response.status_code == 400
        assert response.json()["scimType"] == "invalidValue"


class TestDiscovery:
    async def test_schemas_list_the_extension_with_read_only_attributes(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get(f"/Schemas/{INVITATION}")

        attributes = {a["name"]: a for a in response.json()["attributes"]}
        assert response.status_code == 200
        assert set(attributes) == {
            "state",
            "invitedAt",
            "expiresAt",
            "acceptedAt",
            "confirmedAt",
            "revokedAt",
            "deliveryStatus",
            "lastDeliveryError",
        }
        assert {a["mutability"] for a in attributes.values()} == {"readOnly"}
        assert attributes["state"]["canonicalValues"] == [
            "invited",
            "accepted",
            "confirmed",
            "revoked",
        ]

    async def test_user_resource_type_names_the_extension(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get("/ResourceTypes/User")

        assert {"schema": INVITATION, "required": False} in response.json()[
            "schemaExtensions"
        ]
