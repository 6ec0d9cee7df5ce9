"""Tenants and token digests: the credential store half of every shipped backend."""

from __future__ import annotations

import pytest

from scim_gateway.backends.base import USER, Backend
from scim_gateway.backends.credentials import CredentialStore
from scim_gateway.backends.errors import NotFoundError
from tests.contract.helpers import OTHER_TENANT, TENANT, create_group, create_user


@pytest.fixture
def store(backend: Backend) -> CredentialStore:
    assert isinstance(backend, CredentialStore)
    return backend


async def test_a_token_creates_its_tenant_and_is_listed(store: CredentialStore) -> None:
    record = await store.add_token(TENANT, "d" * 64, label="entra")

    assert await store.list_tenants() == [TENANT]
    assert await store.list_tokens(TENANT) == [record]
    assert (record.tenant, record.digest, record.label) == (TENANT, "d" * 64, "entra")
    assert record.created.tzinfo is not None


async def test_tokens_list_in_creation_order_per_tenant_or_all(
    store: CredentialStore,
) -> None:
    first = await store.add_token(TENANT, "a" * 64)
    other = await store.add_token(OTHER_TENANT, "b" * 64)
    second = await store.add_token(TENANT, "c" * 64)

    mine, every = await store.list_tokens(TENANT), await store.list_tokens()

    # Two tokens may share a creation instant; the id breaks the tie.
    assert (set(mine), set(every)) == ({first, second}, {first, other, second})
    for listed in (mine, every):
        assert listed == sorted(listed, key=lambda record: (record.created, record.id))


async def test_a_revoked_token_is_gone_and_revoking_again_is_false(
    store: CredentialStore,
) -> None:
    record = await store.add_token(TENANT, "a" * 64)

    assert await store.revoke_token(record.id)
    assert not await store.revoke_token(record.id)
    assert await store.list_tokens() == []
    assert await store.list_tenants() == [TENANT]


async def test_creating_a_tenant_twice_is_false_the_second_time(
    store: CredentialStore,
) -> None:
    assert await store.create_tenant("b-tenant")
    assert not await store.create_tenant("b-tenant")
    assert await store.create_tenant("a-tenant")
    assert await store.list_tenants() == ["a-tenant", "b-tenant"]


async def test_deleting_a_tenant_deletes_its_tokens_and_resources(
    backend: Backend, store: CredentialStore
) -> None:
    await store.add_token(TENANT, "a" * 64)
    kept = await store.add_token(OTHER_TENANT, "b" * 64)
    ann = await create_user(backend, "ann")
    await create_group(backend, "Staff", members=[ann.id])
    other = await create_user(backend, "ann", tenant=OTHER_TENANT)

    assert await store.delete_tenant(TENANT)

    assert await store.list_tenants() == [OTHER_TENANT]
    assert await store.list_tokens() == [kept]
    with pytest.raises(NotFoundError):
        await backend.get(TENANT, USER, ann.id)
    assert (await backend.get(OTHER_TENANT, USER, other.id)).id == other.id
    assert not await store.delete_tenant(TENANT)
