"""The text of an invitation: subject, plain and HTML bodies an operator can replace.

Templates use `string.Template` placeholders (`$organization`, `${name}`):
enough for a greeting and a link, and nothing an operator's template could
use to run code. Values put into the HTML body are HTML-escaped.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from string import Template

from scim_gateway.plugins.base import Invitation

__all__ = ["PLACEHOLDERS", "InvitationTemplates", "RenderedInvitation"]

PLACEHOLDERS = ("organization", "name", "user_name", "email", "accept_url", "expires")

# File names in an operator's template directory; a missing file keeps the default.
SUBJECT_FILE, TEXT_FILE, HTML_FILE = "subject.txt", "body.txt", "body.html"

DEFAULT_SUBJECT = "$organization invites you"

DEFAULT_TEXT = """\
Hello $name,

$organization has invited you. To accept, open this link:

$accept_url

The link works once and expires on $expires.
If you did not expect this invitation, ignore this message.
"""

DEFAULT_HTML = """\
<!doctype html>
<html>
<body style="font-family: sans-serif">
<p>Hello $name,</p>
<p>$organization has invited you.</p>
<p><a href="$accept_url">Accept the invitation</a></p>
<p>The link works once and expires on $expires.
If you did not expect this invitation, ignore this message.</p>
</body>
</html>
"""


@dataclass(frozen=True)
class RenderedInvitation:
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class InvitationTemplates:
    """The three templates of an invitation message.

    Raises:
        ValueError: a template names a placeholder outside `PLACEHOLDERS`,
            or has a stray `$`.
    """

    subject: str = DEFAULT_SUBJECT
    text: str = DEFAULT_TEXT
    html: str = DEFAULT_HTML

    def __post_init__(self) -> None:
        sample = dict.fromkeys(PLACEHOLDERS, "x")
        for part in ("subject", "text", "html"):
            try:
                Template(getattr(self, part)).substitute(sample)
            except KeyError as exc:
                raise ValueError(
                    f"the {part} template uses ${exc.args[0]}, which is not one of "
                    + ", ".join(f"${p}" for p in PLACEHOLDERS)
                ) from None
            except ValueError as exc:
                raise ValueError(f"the {part} template is malformed: {exc}") from None

    @classmethod
    def from_directory(cls, directory: str | Path) -> InvitationTemplates:
        """Templates read from `subject.txt`, `body.txt` and `body.html` (UTF-8).

        A file that is missing keeps the default text.

        Raises:
            ValueError: the directory does not exist, or a template is invalid.
        """
        folder = Path(directory)
        if not folder.is_dir():
            raise ValueError(f"invitation template directory {folder} does not exist")

        def read(name: str, default: str) -> str:
            path = folder / name
            return path.read_text(encoding="utf-8") if path.is_file() else default

        return cls(
            subject=read(SUBJECT_FILE, DEFAULT_SUBJECT).strip(),
            text=read(TEXT_FILE, DEFAULT_TEXT),
            html=read(HTML_FILE, DEFAULT_HTML),
        )

    def render(self, invitation: Invitation) -> RenderedInvitation:
        """The message for an invitation, its placeholders filled in."""
        values = _values(invitation)
        escaped = {key: html.escape(value) for key, value in values.items()}
        subject = Template(self.subject).substitute(values)
        return RenderedInvitation(
            # A header must be one line, whatever a display name holds.
            subject=" ".join(subject.split()),
            text=Template(self.text).substitute(values),
            html=Template(self.html).substitute(escaped),
        )


def _values(invitation: Invitation) -> dict[str, str]:
    expires = invitation.expires_at
    return {
        "organization": invitation.organization,
        "name": invitation.name,
        "user_name": invitation.user_name,
        "email": invitation.email or "",
        "accept_url": invitation.accept_url or "",
        "expires": "-" if expires is None else expires.strftime("%Y-%m-%d %H:%M UTC"),
    }
