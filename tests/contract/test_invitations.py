"""Invitations and the outbox: written with the user, claimed once, in order."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import anyio
import pytest

from scim_gateway.backends.base import Backend
from scim_gateway.backends.columns import new_id, utc_now
from scim_gateway.backends.credentials import CredentialStore
from scim_gateway.backends.invitations import (
    DeliveryStatus,
    InvitationRecord,
    InvitationState,
    OutboxMessage,
)
from tests.contract.helpers import OTHER_TENANT, TENANT, create_user


def invited(user_id: str, *, digest: str | None = None) -> InvitationRecord:
    return InvitationRecord(
        tenant=TENANT,
        user_id=user_id,
        state=InvitationState.INVITED,
        token_digest=digest or new_id(),
        invited_at=utc_now(),
        expires_at=utc_now() + timedelta(days=1),
        delivery=DeliveryStatus.PENDING,
    )


def message(user_id: str, event: str = "invited") -> OutboxMessage:
    return OutboxMessage(
        id=new_id(), user_id=user_id, event=event, payload={"n": [1]}, secret="s3"
    )


async def invite(
    backend: Backend, user_name: str, *, tenant: str = TENANT
) -> tuple[InvitationRecord, OutboxMessage]:
    async with backend.transaction(tenant) as tx:
        user = await tx.create("User", {"userName": user_name})
        sent = message(user.id)
        record = replace(invited(user.id), tenant=tenant, outbox_id=sent.id)
        await tx.put_invitation(record)
        await tx.enqueue(sent)
    return record, sent


async def test_invitation_and_message_commit_with_the_user(backend: Backend) -> None:
    record, sent = await invite(backend, "ann")

    stored = await backend.get_invitations(TENANT, [record.user_id, "nobody"])
    claimed = await backend.claim_outbox(limit=10, lease=60)

    assert stored == {record.user_id: record}
    assert [(e.id, e.user_id, e.event, e.attempts) for e in claimed] == [
        (sent.id, record.user_id, "invited", 1)
    ]
    assert (claimed[0].payload, claimed[0].secret) == ({"n": [1]}, "s3")


async def test_a_failed_unit_keeps_neither_invitation_nor_message(
    backend: Backend,
) -> None:
    user = await create_user(backend, "ann")

    with pytest.raises(RuntimeError):
        async with backend.transaction(TENANT) as tx:
            await tx.put_invitation(invited(user.id))
            await tx.enqueue(message(user.id))
            raise RuntimeError("abort")

    assert await backend.get_invitations(TENANT, [user.id]) == {}
    assert await backend.claim_outbox(limit=10, lease=60) == []


async def test_a_claimed_message_is_not_claimed_again_within_its_lease(
    backend: Backend,
) -> None:
    await invite(backend, "ann")

    first = await backend.claim_outbox(limit=10, lease=60)
    second = await backend.claim_outbox(limit=10, lease=60)

    assert (len(first), second) == (1, [])


async def test_a_message_whose_lease_ran_out_is_claimed_again(
    backend: Backend,
) -> None:
    await invite(backend, "ann")
    first = await backend.claim_outbox(limit=10, lease=0)

    second = await backend.claim_outbox(limit=10, lease=60)

    assert [e.id for e in second] == [first[0].id]
    assert second[0].attempts == 2
    assert await backend.complete_outbox(first[0]) is False
    assert await backend.complete_outbox(second[0]) is True


async def test_a_batch_completes_at_once_and_a_lost_claim_says_so(
    backend: Backend,
) -> None:
    records = [(await invite(backend, f"user{n}"))[0] for n in range(3)]
    stale = await backend.claim_outbox(limit=1, lease=0)
    claimed = await backend.claim_outbox(limit=10, lease=60)

    held = await backend.complete_outbox_many([stale[0], *claimed])

    assert [e.id for e in claimed][0] == stale[0].id
    assert held == [False, True, True, True]
    stored = await backend.get_invitations(TENANT, [r.user_id for r in records])
    assert {s.delivery for s in stored.values()} == {DeliveryStatus.DELIVERED}
    assert await backend.claim_outbox(limit=10, lease=0) == []
    assert await backend.complete_outbox_many([]) == []


async def test_a_message_named_twice_in_a_batch_completes_once(
    backend: Backend,
) -> None:
    record, _ = await invite(backend, "ann")
    claimed = await backend.claim_outbox(limit=10, lease=60)

    held = await backend.complete_outbox_many([claimed[0], claimed[0]])

    assert held == [True, False]
    stored = await backend.get_invitations(TENANT, [record.user_id])
    assert stored[record.user_id].delivery is DeliveryStatus.DELIVERED


async def test_a_users_messages_are_claimed_one_at_a_time_in_order(
    backend: Backend,
) -> None:
    user = await create_user(backend, "ann")
    other = await create_user(backend, "bo")
    sent = [message(user.id, "invited"), message(other.id), message(user.id, "x")]
    async with backend.transaction(TENANT) as tx:
        for each in sent:
            await tx.enqueue(each)

    first = await backend.claim_outbox(limit=10, lease=60)
    blocked = await backend.claim_outbox(limit=10, lease=60)
    await backend.complete_outbox(first[0])
    then = await backend.claim_outbox(limit=10, lease=60)

    assert [e.id for e in first] == [sent[0].id, sent[1].id]
    assert blocked == []
    assert [e.id for e in then] == [sent[2].id]


async def test_claim_takes_the_oldest_first_up_to_the_limit(backend: Backend) -> None:
    sent = [(await invite(backend, f"user{n}"))[1] for n in range(5)]

    claimed = await backend.claim_outbox(limit=3, lease=60)

    assert [e.id for e in claimed] == [m.id for m in sent[:3]]


async def test_completing_marks_the_invitation_delivered(backend: Backend) -> None:
    record, _ = await invite(backend, "ann")
    (entry,) = await backend.claim_outbox(limit=10, lease=60)

    done = await backend.complete_outbox(entry)

    stored = await backend.get_invitations(TENANT, [record.user_id])
    assert done is True
    assert stored[record.user_id].delivery is DeliveryStatus.DELIVERED
    assert await backend.claim_outbox(limit=10, lease=0) == []


async def test_a_retry_waits_for_its_time_and_keeps_the_error(
    backend: Backend,
) -> None:
    record, _ = await invite(backend, "ann")
    (entry,) = await backend.claim_outbox(limit=10, lease=60)

    await backend.retry_outbox(
        entry, "smtp down", retry_at=utc_now() + timedelta(hours=1)
    )

    stored = (await backend.get_invitations(TENANT, [record.user_id]))[record.user_id]
    assert await backend.claim_outbox(limit=10, lease=60) == []
    assert (stored.delivery, stored.last_delivery_error) == (
        DeliveryStatus.PENDING,
        "smtp down",
    )


async def test_a_due_retry_is_claimed_with_its_attempts_counted(
    backend: Backend,
) -> None:
    await invite(backend, "ann")
    (entry,) = await backend.claim_outbox(limit=10, lease=60)
    await backend.retry_outbox(entry, "down", retry_at=utc_now())

    (again,) = await backend.claim_outbox(limit=10, lease=60)

    assert (again.id, again.attempts, again.secret) == (entry.id, 2, "s3")


async def test_a_failed_message_is_never_claimed_and_marks_the_invitation(
    backend: Backend,
) -> None:
    record, _ = await invite(backend, "ann")
    (entry,) = await backend.claim_outbox(limit=10, lease=60)

    await backend.fail_outbox(entry, "gave up")

    stored = (await backend.get_invitations(TENANT, [record.user_id]))[record.user_id]
    assert await backend.claim_outbox(limit=10, lease=0) == []
    assert (stored.delivery, stored.last_delivery_error) == (
        DeliveryStatus.FAILED,
        "gave up",
    )


async def test_a_failed_message_does_not_hold_back_later_ones(
    backend: Backend,
) -> None:
    record, _ = await invite(backend, "ann")
    later = message(record.user_id, "revoked")
    async with backend.transaction(TENANT) as tx:
        await tx.enqueue(later)
    (entry,) = await backend.claim_outbox(limit=10, lease=60)
    await backend.fail_outbox(entry, "gave up")

    claimed = await backend.claim_outbox(limit=10, lease=60)

    assert [e.id for e in claimed] == [later.id]


async def test_find_invitation_by_token_digest_in_any_tenant(
    backend: Backend,
) -> None:
    record, _ = await invite(backend, "ann", tenant=OTHER_TENANT)

    found = await backend.find_invitation(record.token_digest or "")
    missing = await backend.find_invitation("0" * 64)

    assert (found, missing) == (record, None)


async def test_list_invitations_filters_by_state_oldest_first(
    backend: Backend,
) -> None:
    first, _ = await invite(backend, "ann")
    second, _ = await invite(backend, "bo")
    third, _ = await invite(backend, "cy")
    confirmed = replace(second, state=InvitationState.CONFIRMED, token_digest=None)
    async with backend.transaction(TENANT) as tx:
        await tx.put_invitation(confirmed)

    pending = await backend.list_invitations(
        TENANT, states={InvitationState.INVITED, InvitationState.ACCEPTED}
    )
    everyone = await backend.list_invitations(TENANT)

    assert pending == [first, third]
    assert everyone == [first, confirmed, third]
    assert await backend.list_invitations(OTHER_TENANT) == []


async def test_put_invitation_replaces_the_users_record(backend: Backend) -> None:
    record, _ = await invite(backend, "ann")
    accepted = replace(
        record,
        state=InvitationState.ACCEPTED,
        token_digest=None,
        accepted_at=utc_now(),
    )

    async with backend.transaction(TENANT) as tx:
        await tx.put_invitation(accepted)
        inside = await tx.get_invitation(record.user_id)

    assert inside == accepted
    assert await backend.get_invitations(TENANT, [record.user_id]) == {
        record.user_id: accepted
    }


async def test_deleting_a_tenant_drops_its_invitations_and_messages(
    backend: Backend,
) -> None:
    assert isinstance(backend, CredentialStore)
    await backend.create_tenant(TENANT)
    record, _ = await invite(backend, "ann")
    kept, _ = await invite(backend, "bo", tenant=OTHER_TENANT)

    await backend.delete_tenant(TENANT)

    claimed = await backend.claim_outbox(limit=10, lease=60)
    assert await backend.get_invitations(TENANT, [record.user_id]) == {}
    assert [e.tenant for e in claimed] == [OTHER_TENANT]


async def test_concurrent_claims_never_share_a_message(backend: Backend) -> None:
    sent = [(await invite(backend, f"user{n}"))[1] for n in range(30)]
    claimed: list[str] = []

    async def claim_all() -> None:
        while batch := await backend.claim_outbox(limit=4, lease=60):
            claimed.extend(e.id for e in batch)

    async with anyio.create_task_group() as group:
        for _ in range(4):
            group.start_soon(claim_all)

    assert sorted(claimed) == sorted(m.id for m in sent)
