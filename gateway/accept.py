"""The accept page that invitation links open: GET shows a button, POST accepts.

Mail scanners and link previews open every link in a message, so opening
the link must not accept on the person's behalf; only the form the page
shows, sent by the person's click, does. The token travels in the form
body, and the page is marked uncacheable and is never sent as a referrer.
"""

from __future__ import annotations

import html
import logging
from string import Template
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from scim_gateway.backends.errors import BackendError, NotFoundError
from scim_gateway.context import GatewayContext
from scim_gateway.invitations import ACCEPT_PATH, AcceptRefused
from scim_gateway.logs import note

__all__ = ["AcceptPage"]

logger = logging.getLogger(__name__)

# A form body holds one token of 43 characters; anything much larger is not ours.
_MAX_FORM_BYTES = 4096

_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
}

_PAGE = Template("""\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>$title</title>
<style>
body { font-family: sans-serif; max-width: 32rem; margin: 4rem auto; padding: 0 1rem; }
button { font-size: 1.1rem; padding: 0.6rem 1.4rem; cursor: pointer; }
</style>
</head>
<body>
<h1>$title</h1>
$body
</body>
</html>
""")

_FORM = Template("""\
<p>$organization has invited you. Press the button to accept.</p>
<form method="post" action="">
<input type="hidden" name="token" value="$token">
<button type="submit">Accept the invitation</button>
</form>
""")

_REFUSALS = {
    "unknown": (
        400,
        "This invitation link does not work",
        "It was used already, replaced by a newer invitation, or mistyped. "
        "If you still need access, ask your administrator to send a new one.",
    ),
    "expired": (
        410,
        "This invitation has expired",
        "Ask your administrator to send a new invitation.",
    ),
}


class AcceptPage:
    def __init__(self, context: GatewayContext) -> None:
        self.ctx = context

    async def show(self, request: Request) -> Response:
        note(route=ACCEPT_PATH)
        token = request.query_params.get("token", "")
        try:
            await self.ctx.ensure_open()
            await self.ctx.invitations.check(token)
        except AcceptRefused as exc:
            return self._refused(exc)
        except BackendError:
            return _unavailable()
        body = _FORM.substitute(
            organization=html.escape(self.ctx.settings.organization),
            token=html.escape(token, quote=True),
        )
        return _page(200, "You are invited", body)

    async def accept(self, request: Request) -> Response:
        note(route=ACCEPT_PATH)
        token = await _form_token(request)
        try:
            await self.ctx.ensure_open()
            record = await self.ctx.invitations.accept(token)
        except AcceptRefused as exc:
            return self._refused(exc)
        except NotFoundError:
            # The user was deleted between the link and the click.
            return self._refused(AcceptRefused("unknown"))
        except BackendError:
            return _unavailable()
        logger.info(
            "invitation.accepted tenant=%s user_id=%s", record.tenant, record.user_id
        )
        organization = html.escape(self.ctx.settings.organization)
        body = (
            f"<p>Thank you. {organization} has your acceptance; an administrator "
            "will confirm your account, and you will hear when it is ready.</p>"
        )
        return _page(200, "Invitation accepted", body)

    def _refused(self, exc: AcceptRefused) -> Response:
        note(scim_type=f"accept_{exc.reason}")
        status, title, text = _REFUSALS[exc.reason]
        return _page(status, title, f"<p>{text}</p>")


async def _form_token(request: Request) -> str:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > _MAX_FORM_BYTES:
            return ""
        chunks.append(chunk)
    form = parse_qs(b"".join(chunks).decode("utf-8", "replace"))
    return form.get("token", [""])[0]


def _unavailable() -> Response:
    response = _page(
        503,
        "Please try again in a moment",
        "<p>The service is briefly unavailable; nothing was changed.</p>",
    )
    response.headers["Retry-After"] = "5"
    return response


def _page(status: int, title: str, body: str) -> HTMLResponse:
    content = _PAGE.substitute(title=html.escape(title), body=body)
    return HTMLResponse(content, status_code=status, headers=_HEADERS)
