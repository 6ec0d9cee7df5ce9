"""The admin HTTP API: list pending users, confirm, resend and revoke invitations.

It answers only the admin token (`SCIM_GATEWAY_ADMIN_TOKEN`), never a SCIM
token: an identity provider that holds the SCIM token can provision users
but cannot confirm them. Without an admin token the API is off. Errors are
SCIM error documents, like the rest of the gateway.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from scim_gateway.auth import bearer_token, hash_token
from scim_gateway.backends.base import USER
from scim_gateway.backends.errors import NotFoundError
from scim_gateway.backends.invitations import InvitationRecord, InvitationState
from scim_gateway.context import GatewayContext, translate_backend_errors
from scim_gateway.errors import Forbidden, InvalidValue, Unauthorized
from scim_gateway.invitations import invitation_attributes
from scim_gateway.logs import note, tenant_id

__all__ = ["ADMIN_PREFIX", "AdminEndpoints", "invitation_view"]

logger = logging.getLogger(__name__)

ADMIN_PREFIX = "/admin"
_INVITATIONS = ADMIN_PREFIX + "/tenants/{tenant}/invitations"
_STATES = {state.value: state for state in InvitationState}


def invitation_view(
    record: InvitationRecord, user: dict[str, Any] | None
) -> dict[str, Any]:
    """An invitation as the admin API shows it, with the user's names if it exists."""
    names = user or {}
    return {
        "tenant": record.tenant,
        "userId": record.user_id,
        "userName": names.get("userName"),
        "displayName": names.get("displayName"),
        **invitation_attributes(record),
    }


class AdminEndpoints:
    def __init__(self, context: GatewayContext) -> None:
        self.ctx = context
        token = context.settings.admin_token
        self._digest = None if token is None else hash_token(token)

    def routes(self) -> list[Route]:
        one = _INVITATIONS + "/{user_id}"
        return [
            Route(_INVITATIONS, self.list_invitations, methods=["GET"]),
            Route(one, self.get_invitation, methods=["GET"]),
            Route(one + "/confirm", self.confirm, methods=["POST"]),
            Route(one + "/resend", self.resend, methods=["POST"]),
            Route(one + "/revoke", self.revoke, methods=["POST"]),
        ]

    async def list_invitations(self, request: Request) -> Response:
        """`?state=` any of invited, accepted, confirmed, revoked (repeatable),
        or `all`; pending (invited and accepted) by default."""
        tenant = await self._begin(request, _INVITATIONS)
        states = _states(request.query_params.getlist("state"))
        with translate_backend_errors():
            records = await self.ctx.backend.list_invitations(tenant, states=states)
            views = [await self._view(r) for r in records]
        return JSONResponse({"invitations": views, "total": len(views)})

    async def get_invitation(self, request: Request) -> Response:
        tenant = await self._begin(request, _INVITATIONS + "/{user_id}")
        with translate_backend_errors():
            record = await self.ctx.invitations.get(tenant, _user_id(request))
            return JSONResponse(await self._view(record))

    async def confirm(self, request: Request) -> Response:
        tenant = await self._begin(request, _INVITATIONS + "/{user_id}/confirm")
        with translate_backend_errors():
            record = await self.ctx.invitations.confirm(tenant, _user_id(request))
            return await self._changed(record)

    async def revoke(self, request: Request) -> Response:
        tenant = await self._begin(request, _INVITATIONS + "/{user_id}/revoke")
        with translate_backend_errors():
            record = await self.ctx.invitations.revoke(tenant, _user_id(request))
            return await self._changed(record)

    async def resend(self, request: Request) -> Response:
        tenant = await self._begin(request, _INVITATIONS + "/{user_id}/resend")
        link_base = self.ctx.accept_url(request)
        with translate_backend_errors():
            record = await self.ctx.invitations.resend(
                tenant, _user_id(request), link_base
            )
            return await self._changed(record)

    async def _begin(self, request: Request, route: str) -> str:
        note(route=route)
        with self.ctx.counting_failures(request):
            self._authenticate(request)
        await self.ctx.ensure_open()
        tenant: str = request.path_params["tenant"]
        tenant_id.set(tenant)
        return tenant

    def _authenticate(self, request: Request) -> None:
        if self._digest is None:
            raise Forbidden(
                "the admin API is off; set SCIM_GATEWAY_ADMIN_TOKEN to turn it on"
            )
        token = bearer_token(request)
        if not hmac.compare_digest(hash_token(token), self._digest):
            client = request.client.host if request.client else "-"
            logger.warning("admin_auth_failed source=%s", client)
            raise Unauthorized("the admin token is not valid")

    async def _changed(self, record: InvitationRecord) -> Response:
        note(id=record.user_id)
        logger.info(
            "invitation.%s tenant=%s user_id=%s",
            record.state.value,
            record.tenant,
            record.user_id,
        )
        return JSONResponse(await self._view(record))

    async def _view(self, record: InvitationRecord) -> dict[str, Any]:
        try:
            user = await self.ctx.backend.get(record.tenant, USER, record.user_id)
        except NotFoundError:
            return invitation_view(record, None)
        return invitation_view(record, user.document)


def _user_id(request: Request) -> str:
    user_id: str = request.path_params["user_id"]
    note(id=user_id)
    return user_id


def _states(values: list[str]) -> set[InvitationState] | None:
    if not values:
        return {InvitationState.INVITED, InvitationState.ACCEPTED}
    if "all" in values:
        return None
    unknown = [v for v in values if v not in _STATES]
    if unknown:
        raise InvalidValue(
            f"unknown state {unknown[0]!r}; use invited, accepted, confirmed, "
            "revoked or all"
        )
    return {_STATES[v] for v in values}
