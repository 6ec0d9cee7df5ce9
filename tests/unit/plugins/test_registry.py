"""Finding deliverers by name, and the names `scim_gateway.plugins` offers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import scim_gateway.plugins
from scim_gateway.plugins import registry
from scim_gateway.plugins.base import Deliverer, DelivererConfig, Invitation
from scim_gateway.plugins.log import LogDeliverer
from scim_gateway.plugins.registry import (
    available_deliverers,
    load_deliverer,
    register_deliverer,
)
from scim_gateway.plugins.templates import InvitationTemplates

CONFIG = DelivererConfig(InvitationTemplates())


class Quiet(Deliverer):
    async def invite(self, invitation: Invitation) -> None:
        return None


@pytest.fixture
def clean_registry() -> Iterator[None]:
    saved = dict(registry._registered)
    yield
    registry._registered.clear()
    registry._registered.update(saved)


def test_public_names_are_pinned() -> None:
    assert sorted(scim_gateway.plugins.__all__) == [
        "Deliverer",
        "DelivererConfig",
        "DelivererFactory",
        "DeliveryError",
        "ENTRY_POINT_GROUP",
        "Invitation",
        "InvitationEvent",
        "InvitationTemplates",
        "PermanentDeliveryError",
        "RenderedInvitation",
        "available_deliverers",
        "dispatch",
        "load_deliverer",
        "register_deliverer",
    ]


def test_built_in_deliverers_are_available() -> None:
    assert {"log", "smtp", "webhook"} <= set(available_deliverers())


def test_unknown_name_is_a_lookup_error_listing_the_known_ones() -> None:
    with pytest.raises(LookupError, match=r"no invitation deliverer named 'pigeon'"):
        load_deliverer("pigeon", CONFIG)


@pytest.mark.usefixtures("clean_registry")
def test_registered_factory_is_found_by_name_before_a_built_in() -> None:
    register_deliverer("log", lambda config: Quiet())

    deliverer = load_deliverer("log", CONFIG)

    assert isinstance(deliverer, Quiet)
    assert "log" in available_deliverers()


def test_log_is_built_from_its_options() -> None:
    deliverer = load_deliverer("log", CONFIG)

    assert isinstance(deliverer, LogDeliverer)
    assert deliverer.show_links is False
