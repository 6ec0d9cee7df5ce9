"""The `smtp` deliverer against a real SMTP server started by the test."""

from __future__ import annotations

import pytest

from scim_gateway.plugins.base import (
    DelivererConfig,
    DeliveryError,
    PermanentDeliveryError,
)
from scim_gateway.plugins.registry import load_deliverer
from scim_gateway.plugins.smtp import SmtpDeliverer
from scim_gateway.plugins.templates import InvitationTemplates
from tests.e2e.server import free_port
from tests.unit.plugins.invitations import ACCEPT_URL, invitation
from tests.unit.plugins.smtp_server import smtp_server

SENDER = "Acme <no-reply@acme.example>"


async def test_invitation_arrives_with_subject_both_bodies_and_a_stable_id() -> None:
    with smtp_server() as (mailbox, port):
        deliverer = SmtpDeliverer(host="127.0.0.1", port=port, sender=SENDER)

        await deliverer.invite(invitation())

    (message,) = mailbox.messages
    assert mailbox.recipients == [["ann.lee@example.com"]]
    assert message["Subject"] == "Acme & Co invites you"
    assert message["From"] == SENDER
    assert message["To"] == '"Ann <Lee>" <ann.lee@example.com>'
    assert message["Message-ID"] == "<key-0001@acme.example>"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    assert ACCEPT_URL in text.get_content()
    assert "Ann &lt;Lee&gt;" in html.get_content()


async def test_configured_by_options_and_logs_in() -> None:
    with smtp_server(login=("mailer", "pa55")) as (mailbox, port):
        config = DelivererConfig(
            InvitationTemplates(subject="Hi $name"),
            {
                "host": "127.0.0.1",
                "port": str(port),
                "from": SENDER,
                "username": "mailer",
                "password": "pa55",
            },
        )
        deliverer = load_deliverer("smtp", config)

        await deliverer.invite(invitation())

    assert [m["Subject"] for m in mailbox.messages] == ["Hi Ann <Lee>"]
    assert "pa55" not in repr(deliverer)


async def test_server_down_is_a_delivery_error_to_retry() -> None:
    deliverer = SmtpDeliverer(host="127.0.0.1", port=free_port(), sender=SENDER)

    with pytest.raises(DeliveryError) as caught:
        await deliverer.invite(invitation())

    assert not isinstance(caught.value, PermanentDeliveryError)


async def test_user_without_e_mail_is_a_permanent_error() -> None:
    deliverer = SmtpDeliverer(host="127.0.0.1", port=free_port(), sender=SENDER)

    with pytest.raises(PermanentDeliveryError, match="no e-mail address"):
        await deliverer.invite(invitation(email=None))


def test_missing_host_names_the_variables() -> None:
    config = DelivererConfig(InvitationTemplates(), {"from": SENDER})

    with pytest.raises(ValueError, match="SCIM_GATEWAY_SMTP_HOST"):
        load_deliverer("smtp", config)


def test_unknown_security_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="starttls"):
        SmtpDeliverer(host="h", sender=SENDER, security="ssl3")
