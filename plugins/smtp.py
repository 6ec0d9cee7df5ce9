"""The `smtp` deliverer: sends the invitation as an e-mail through an SMTP server.

It uses the standard library's `smtplib` on a worker thread, one connection
per message: invitations are rare enough that a pool would only add state.
The Message-ID is derived from the idempotency key, so the copies of one
invitation that retries may send carry the same id, which mail systems use
to drop duplicates.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formataddr

import anyio

from scim_gateway.plugins.base import (
    Deliverer,
    DelivererConfig,
    DeliveryError,
    Invitation,
    PermanentDeliveryError,
    number_option,
)
from scim_gateway.plugins.templates import InvitationTemplates

__all__ = ["SECURITY_MODES", "SmtpDeliverer"]

SECURITY_MODES = ("none", "starttls", "tls")


@dataclass
class SmtpDeliverer(Deliverer):
    """Sends invitations by e-mail.

    Args:
        host: the SMTP server.
        sender: the From address, such as `Acme <no-reply@acme.example>`.
        port: 25 by default (587 is usual with `starttls`, 465 with `tls`).
        security: `none`, `starttls` (upgrade after connecting) or `tls`.
        username: log in with this user and `password` when given.
        timeout: seconds for the connection and each SMTP command.
        templates: the subject and bodies.
    """

    host: str
    sender: str
    port: int = 25
    security: str = "none"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    templates: InvitationTemplates = field(default_factory=InvitationTemplates)
    name: str = field(default="smtp", init=False)

    def __post_init__(self) -> None:
        if self.security not in SECURITY_MODES:
            raise ValueError(
                f"smtp security must be one of {', '.join(SECURITY_MODES)}, "
                f"not {self.security!r}"
            )

    @classmethod
    def from_config(cls, config: DelivererConfig) -> SmtpDeliverer:
        """From `SCIM_GATEWAY_SMTP_HOST`, `_PORT`, `_FROM`, `_SECURITY`, `_USERNAME`,
        `_PASSWORD` and `_TIMEOUT`.

        Raises:
            ValueError: `host` or `from` is missing, or an option is malformed.
        """
        options = config.options
        host, sender = options.get("host"), options.get("from")
        if not host or not sender:
            raise ValueError(
                "the smtp deliverer needs SCIM_GATEWAY_SMTP_HOST and "
                "SCIM_GATEWAY_SMTP_FROM"
            )
        return cls(
            host=host,
            sender=sender,
            port=int(number_option(options, "port", default=25)),
            security=options.get("security", "none").lower(),
            username=options.get("username") or None,
            password=options.get("password") or None,
            timeout=number_option(options, "timeout", default=30.0),
            templates=config.templates,
        )

    async def invite(self, invitation: Invitation) -> None:
        if not invitation.email:
            raise PermanentDeliveryError("the user has no e-mail address")
        message = self.compose(invitation)
        await anyio.to_thread.run_sync(self._send, message, abandon_on_cancel=True)

    def compose(self, invitation: Invitation) -> EmailMessage:
        """The e-mail for an invitation, with its bodies rendered."""
        rendered = self.templates.render(invitation)
        message = EmailMessage()
        message["Subject"] = rendered.subject
        message["From"] = self.sender
        message["To"] = formataddr((invitation.name, invitation.email or ""))
        domain = self.sender.rpartition("@")[2].rstrip(">").strip() or "scim-gateway"
        message["Message-ID"] = f"<{invitation.idempotency_key}@{domain}>"
        message["X-Idempotency-Key"] = invitation.idempotency_key
        message.set_content(rendered.text)
        message.add_alternative(rendered.html, subtype="html")
        return message

    def _send(self, message: EmailMessage) -> None:
        try:
            with self._connect() as client:
                if self.security == "starttls":
                    client.starttls(context=ssl.create_default_context())
                if self.username is not None:
                    client.login(self.username, self.password or "")
                client.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            raise PermanentDeliveryError(
                f"the SMTP server refused the recipient: {_codes(exc)}"
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP {type(exc).__name__}: {exc}") from None

    def _connect(self) -> smtplib.SMTP:
        if self.security == "tls":
            return smtplib.SMTP_SSL(
                self.host,
                self.port,
                timeout=self.timeout,
                context=ssl.create_default_context(),
            )
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout)


def _codes(exc: smtplib.SMTPRecipientsRefused) -> str:
    # Only the status codes: the refusal text repeats the address.
    return ", ".join(str(code) for code, _ in exc.recipients.values())
