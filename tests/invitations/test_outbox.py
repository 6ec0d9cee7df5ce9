"""The delivery worker: after commit, retried with backoff, once, in order per user."""

from __future__ import annotations

import anyio
import httpx
import pytest
from starlette.applications import Starlette

from scim_gateway.backends.base import Backend
from scim_gateway.config import Settings
from scim_gateway.context import GatewayContext
from scim_gateway.outbox import OutboxWorker, RetryPolicy
from scim_gateway.plugins.base import (
    Deliverer,
    Invitation,
    InvitationEvent,
    PermanentDeliveryError,
)
from tests.invitations.conftest import create_user, invitation_of, set_active
from tests.invitations.recording import RecordingDeliverer


class TestRetries:
    @pytest.fixture
    def recorder(self) -> RecordingDeliverer:
        return RecordingDeliverer(failures=2)

    async def test_deliverer_down_then_up_delivers_once_with_one_key(
        self,
        client: httpx.AsyncClient,
        gateway: GatewayContext,
        recorder: RecordingDeliverer,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        caplog.set_level("DEBUG", logger="scim_gateway.outbox")
        user_id = await create_user(client, "ann@example.com")

        await gateway.outbox.drain()

        assert len(recorder.delivered) == 1
        assert [a.attempt for a in recorder.attempts] == [1, 2, 3]
        assert len({a.idempotency_key for a in recorder.attempts}) == 1
        assert (await invitation_of(client, user_id))["deliveryStatus"] == "delivered"
        retries = [r for r in caplog.records if "outbox.retry" in r.getMessage()]
        assert {r.levelname for r in retries} == {"WARNING", "DEBUG"}
        assert all("ann@example.com" not in r.getMessage() for r in caplog.records)


class TestPermanentFailure:
    @pytest.fixture
    def recorder(self) -> RecordingDeliverer:
        return RecordingDeliverer(failures=1, error=PermanentDeliveryError("no mail"))

    async def test_a_permanent_error_gives_up_at_once(
        self,
        client: httpx.AsyncClient,
        gateway: GatewayContext,
        recorder: RecordingDeliverer,
    ) -> None:
        user_id = await create_user(client, "ann@example.com")

        await gateway.outbox.drain()

        state = await invitation_of(client, user_id)
        assert len(recorder.attempts) == 1
        assert (state["deliveryStatus"], state["lastDeliveryError"]) == (
            "failed",
            "no mail",
        )


class Hanging(Deliverer):
    """Never answers its first call, as a receiver that accepted the connection."""

    def __init__(self) -> None:
        self.calls = 0
        self.delivered: list[Invitation] = []

    async def invite(self, invitation: Invitation) -> None:
        self.calls += 1
        if self.calls == 1:
            await anyio.sleep_forever()
        self.delivered.append(invitation)


class TestTimeout:
    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return Settings(**{**settings.__dict__, "delivery_timeout_seconds": 0.05})

    @pytest.fixture
    def recorder(self) -> Hanging:
        return Hanging()

    async def test_an_attempt_that_hangs_is_cut_and_retried(
        self, client: httpx.AsyncClient, gateway: GatewayContext, recorder: Hanging
    ) -> None:
        await create_user(client, "ann@example.com")

        await gateway.outbox.drain()

        assert (recorder.calls, len(recorder.delivered)) == (2, 1)


class Mixed(Deliverer):
    """Hangs for one person, refuses another for good, delivers the rest."""

    def __init__(self) -> None:
        self.delivered: list[str] = []

    async def invite(self, invitation: Invitation) -> None:
        if invitation.user_name.startswith("hang"):
            await anyio.sleep_forever()
        if invitation.user_name.startswith("refuse"):
            raise PermanentDeliveryError("no such mailbox")
        self.delivered.append(invitation.user_name)


async def test_one_batch_records_each_attempt_by_its_own_outcome(
    client: httpx.AsyncClient, backend: Backend
) -> None:
    """The batch's deadline cuts only the attempt still running when it passes."""
    ids = {
        name: await create_user(client, f"{name}@example.com")
        for name in ("hang", "refuse", "ann")
    }
    worker = OutboxWorker(
        backend,
        Mixed(),
        organization="Acme",
        retry=RetryPolicy(timeout=0.05, backoff=60.0),
    )

    assert await worker.deliver_batch() == 3

    states = {name: await invitation_of(client, i) for name, i in ids.items()}
    assert (states["hang"]["deliveryStatus"], states["hang"]["lastDeliveryError"]) == (
        "pending",
        "TimeoutError",
    )
    assert (
        states["refuse"]["deliveryStatus"],
        states["refuse"]["lastDeliveryError"],
    ) == ("failed", "no such mailbox")
    assert states["ann"]["deliveryStatus"] == "delivered"


def test_backoff_doubles_up_to_the_cap() -> None:
    policy = RetryPolicy(backoff=2.0, max_backoff=30.0)

    delays = [policy.delay(n) for n in range(1, 7)]

    assert delays == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


class TestLifespanWorker:
    async def test_the_apps_lifespan_delivers_without_being_asked(
        self,
        app: Starlette,
        client: httpx.AsyncClient,
        recorder: RecordingDeliverer,
    ) -> None:
        async with app.router.lifespan_context(app):
            user_id = await create_user(client, "ann@example.com")
            await recorder.wait_for(1)

        assert recorder.events(user_id) == [InvitationEvent.INVITED]

    async def test_a_burst_of_1000_users_gets_1000_invitations_in_order_per_user(
        self,
        app: Starlette,
        client: httpx.AsyncClient,
        recorder: RecordingDeliverer,
    ) -> None:
        user_ids: list[str] = []
        # As an identity provider does: many requests at once, not all of them.
        limiter = anyio.CapacityLimiter(20)

        async def provision(n: int) -> None:
            async with limiter:
                user_id = await create_user(client, f"user{n:04}@example.com")
                user_ids.append(user_id)
                if n % 10 == 0:
                    await set_active(client, user_id, False)

        async with app.router.lifespan_context(app):
            async with anyio.create_task_group() as group:
                for n in range(1000):
                    group.start_soon(provision, n)
            await recorder.wait_for(1100, within=120)

        invited = [i for i in recorder.delivered if i.event is InvitationEvent.INVITED]
        assert len(invited) == 1000
        assert {i.user_id for i in invited} == set(user_ids)
        revoked = {u for u in user_ids if len(recorder.events(u)) == 2}
        assert len(revoked) == 100
        assert all(
            recorder.events(u) == [InvitationEvent.INVITED, InvitationEvent.REVOKED]
            for u in revoked
        )


class Slow(RecordingDeliverer):
    """Takes a while to answer, as a server across the network."""

    async def invite(self, invitation: Invitation) -> None:
        await anyio.sleep(0.02)
        await super().invite(invitation)


class HangsOnce(Hanging):
    """Never answers its `at`-th call; answers every other one at once."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at = at

    async def invite(self, invitation: Invitation) -> None:
        self.calls += 1
        if self.calls == self.at:
            await anyio.sleep_forever()
        self.delivered.append(invitation)


class TestBatchGrowth:
    """A backlog is claimed in growing batches only while deliveries are quick."""

    async def test_full_quick_batches_double_the_claim_up_to_the_bound(
        self,
        client: httpx.AsyncClient,
        backend: Backend,
        recorder: RecordingDeliverer,
    ) -> None:
        for n in range(40):
            await create_user(client, f"user{n}@example.com")
        worker = OutboxWorker(
            backend, recorder, organization="Acme", batch=4, max_batch=16, quick=60.0
        )

        sizes = [await worker.deliver_batch() for _ in range(5)]

        assert sizes == [4, 8, 16, 12, 0]
        assert len({i.user_id for i in recorder.delivered}) == 40

    async def test_a_slow_deliverer_keeps_the_first_batch_size(
        self, client: httpx.AsyncClient, backend: Backend
    ) -> None:
        for n in range(12):
            await create_user(client, f"user{n}@example.com")
        slow = Slow()
        worker = OutboxWorker(
            backend, slow, organization="Acme", batch=4, max_batch=16, quick=0.001
        )

        sizes = [await worker.deliver_batch() for _ in range(4)]

        assert sizes == [4, 4, 4, 0]
        assert len(slow.delivered) == 12

    async def test_a_hanging_attempt_in_a_grown_batch_is_cut_and_retried(
        self, client: httpx.AsyncClient, backend: Backend
    ) -> None:
        for n in range(12):
            await create_user(client, f"user{n}@example.com")
        # Batches of 2, 4 and 8: the seventh call is in the third, grown one.
        hanging = HangsOnce(at=7)
        worker = OutboxWorker(
            backend,
            hanging,
            organization="Acme",
            retry=RetryPolicy(timeout=0.05, backoff=0.0),
            batch=2,
            max_batch=16,
            quick=60.0,
        )

        await worker.drain()

        assert (hanging.calls, len(hanging.delivered)) == (13, 12)
