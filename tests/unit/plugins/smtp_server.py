"""A real SMTP server (aiosmtpd) on a loopback port, keeping what it receives."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.e2e.server import free_port


class Mailbox:
    """The aiosmtpd handler: stores each message it is given."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"


def _accept_login(user: str, password: str) -> Any:
    def authenticate(
        server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (
            data.login.decode(),
            data.password.decode(),
        ) == (user, password)
        return AuthResult(success=ok)

    return authenticate


@contextmanager
def smtp_server(
    port: int | None = None, *, login: tuple[str, str] | None = None
) -> Iterator[tuple[Mailbox, int]]:
    """Serve SMTP on 127.0.0.1 until the block ends; yields the mailbox and port."""
    mailbox = Mailbox()
    chosen = port or free_port()
    options: dict[str, Any] = {}
    if login is not None:
        options = {
            "authenticator": _accept_login(*login),
            # The test server has no certificate; production logins use TLS.
            "auth_require_tls": False,
        }
    controller = Controller(mailbox, hostname="127.0.0.1", port=chosen, **options)
    controller.start()
    try:
        yield mailbox, chosen
    finally:
        controller.stop()
