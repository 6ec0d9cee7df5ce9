"""`Backend.create`: a new resource as a unit of work of its own."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import anyio
import pytest

from scim_gateway.backends.base import GROUP, USER, Backend, Query
from scim_gateway.backends.columns import new_id, new_ordered_id, utc_now
from scim_gateway.backends.errors import ConflictError
from scim_gateway.backends.invitations import (
    DeliveryStatus,
    InvitationRecord,
    InvitationState,
    OutboxMessage,
)
from tests.contract.helpers import OTHER_TENANT, TENANT, create_user


def invitation_of(
    user_id: str, tenant: str = TENANT
) -> tuple[InvitationRecord, OutboxMessage]:
    sent = OutboxMessage(
        id=new_id(), user_id=user_id, event="invited", payload={"n": [1]}, secret="s3"
    )
    record = InvitationRecord(
        tenant=tenant,
        user_id=user_id,
        state=InvitationState.INVITED,
        token_digest=new_id(),
        invited_at=utc_now(),
        expires_at=utc_now() + timedelta(days=1),
        delivery=DeliveryStatus.PENDING,
        outbox_id=sent.id,
    )
    return record, sent


async def test_a_new_user_is_stored_at_version_one(backend: Backend) -> None:
    created = await backend.create(TENANT, USER, {"userName": "ann"})

    stored = await backend.get(TENANT, USER, created.id)
    assert stored.document == {"userName": "ann"}
    assert (stored.version, created.version) == (1, 1)
    assert stored.created == created.created


async def test_a_new_group_is_stored_without_members(backend: Backend) -> None:
    created = await backend.create(TENANT, GROUP, {"displayName": "Staff"})

    stored = await backend.get(TENANT, GROUP, created.id, with_members=True)
    assert stored.document == {"displayName": "Staff"}
    assert stored.members == []


async def test_the_id_given_is_the_new_resources(backend: Backend) -> None:
    wanted = new_ordered_id()

    created = await backend.create(
        TENANT, USER, {"userName": "ann"}, resource_id=wanted
    )

    assert created.id == wanted
    assert (await backend.get(TENANT, USER, wanted)).document == {"userName": "ann"}


async def test_the_invitation_and_message_commit_with_the_user(
    backend: Backend,
) -> None:
    user_id = new_ordered_id()
    record, sent = invitation_of(user_id)

    await backend.create(
        TENANT,
        USER,
        {"userName": "ann"},
        resource_id=user_id,
        invitation=record,
        message=sent,
    )

    assert await backend.get_invitations(TENANT, [user_id]) == {user_id: record}
    claimed = await backend.claim_outbox(limit=10, lease=60)
    assert [(e.id, e.tenant, e.user_id, e.event) for e in claimed] == [
        (sent.id, TENANT, user_id, "invited")
    ]
    assert (claimed[0].payload, claimed[0].secret) == ({"n": [1]}, "s3")


async def test_a_taken_user_name_writes_nothing(backend: Backend) -> None:
    await create_user(backend, "ann")
    user_id = new_ordered_id()
    record, sent = invitation_of(user_id)

    with pytest.raises(ConflictError) as caught:
        await backend.create(
            TENANT,
            USER,
            {"userName": "ANN"},
            resource_id=user_id,
            invitation=record,
            message=sent,
        )

    assert caught.value.attribute == "userName"
    assert await backend.get_invitations(TENANT, [user_id]) == {}
    assert await backend.claim_outbox(limit=10, lease=60) == []
    assert (await backend.query(TENANT, USER, Query())).total == 1


async def test_a_taken_id_is_a_conflict(backend: Backend) -> None:
    ann = await create_user(backend, "ann")

    with pytest.raises(ConflictError):
        await backend.create(TENANT, USER, {"userName": "bo"}, resource_id=ann.id)

    assert (await backend.query(TENANT, USER, Query())).total == 1


async def test_the_same_name_in_another_tenant_is_another_user(
    backend: Backend,
) -> None:
    await create_user(backend, "ann")
    user_id = new_ordered_id()
    record, sent = invitation_of(user_id, OTHER_TENANT)

    await backend.create(
        OTHER_TENANT,
        USER,
        {"userName": "ann"},
        resource_id=user_id,
        invitation=record,
        message=sent,
    )

    assert list(await backend.get_invitations(OTHER_TENANT, [user_id])) == [user_id]
    assert await backend.get_invitations(TENANT, [user_id]) == {}


async def test_an_invitation_of_another_tenant_is_refused(backend: Backend) -> None:
    user_id = new_ordered_id()
    record, sent = invitation_of(user_id, OTHER_TENANT)

    with pytest.raises(ValueError):
        await backend.create(
            TENANT,
            USER,
            {"userName": "ann"},
            resource_id=user_id,
            invitation=record,
            message=sent,
        )

    assert (await backend.query(TENANT, USER, Query())).total == 0


async def test_concurrent_creates_of_one_name_let_exactly_one_win(
    backend: Backend,
) -> None:
    outcomes: list[str] = []

    async def create(n: int) -> None:
        user_id = new_ordered_id()
        record, sent = invitation_of(user_id)
        name = "pat.doe".upper() if n % 2 else "pat.doe"
        try:
            await backend.create(
                TENANT,
                USER,
                {"userName": name},
                resource_id=user_id,
                invitation=replace(record),
                message=sent,
            )
        except ConflictError:
            outcomes.append("conflict")
        else:
            outcomes.append("created")

    async with anyio.create_task_group() as tasks:
        for n in range(20):
            tasks.start_soon(create, n)

    assert sorted(outcomes) == ["conflict"] * 19 + ["created"]
    assert len(await backend.claim_outbox(limit=50, lease=60)) == 1
