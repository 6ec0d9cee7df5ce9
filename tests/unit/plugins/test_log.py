"""The `log` deliverer keeps accept links out of INFO unless told to show them."""

from __future__ import annotations

import pytest

from scim_gateway.plugins.base import DelivererConfig, InvitationEvent
from scim_gateway.plugins.log import LogDeliverer
from scim_gateway.plugins.registry import load_deliverer
from scim_gateway.plugins.templates import InvitationTemplates
from tests.unit.plugins.invitations import ACCEPT_URL, invitation


def info_text(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(
        r.getMessage() for r in caplog.records if r.levelname in ("INFO", "WARNING")
    )


async def test_link_is_withheld_at_info_and_logged_at_debug(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("DEBUG", logger="scim_gateway.plugins.log")

    await LogDeliverer().invite(invitation())

    assert ACCEPT_URL not in info_text(caplog)
    assert "accept_url=withheld" in info_text(caplog)
    debug = [r for r in caplog.records if r.levelname == "DEBUG"]
    assert ACCEPT_URL in debug[0].getMessage()


async def test_links_option_logs_the_link_at_info(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO", logger="scim_gateway.plugins.log")
    config = DelivererConfig(InvitationTemplates(), {"links": "true"})

    await load_deliverer("log", config).invite(invitation())

    assert f"accept_url={ACCEPT_URL}" in info_text(caplog)


async def test_events_are_logged_without_names_or_addresses(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO", logger="scim_gateway.plugins.log")

    await LogDeliverer().revoked(invitation(event=InvitationEvent.REVOKED))

    assert info_text(caplog) == "invitation.revoked tenant=default user_id=u-1"


def test_malformed_links_option_is_refused() -> None:
    config = DelivererConfig(InvitationTemplates(), {"links": "maybe"})

    with pytest.raises(ValueError, match="'links'"):
        load_deliverer("log", config)
