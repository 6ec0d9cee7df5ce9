"""Invitation delivery: the hook interface, templates and the built-in deliverers.

Built in: `log` (the default), `smtp` and `webhook`. Others come from
installed packages through the entry-point group `scim_gateway.invitations`,
or from `register_deliverer` in the embedding application.
"""

from __future__ import annotations

from scim_gateway.plugins.base import (
    Deliverer,
    DelivererConfig,
    DeliveryError,
    Invitation,
    InvitationEvent,
    PermanentDeliveryError,
    dispatch,
)
from scim_gateway.plugins.registry import (
    ENTRY_POINT_GROUP,
    DelivererFactory,
    available_deliverers,
    load_deliverer,
    register_deliverer,
)
from scim_gateway.plugins.templates import InvitationTemplates, RenderedInvitation

__all__ = [
    "ENTRY_POINT_GROUP",
    "Deliverer",
    "DelivererConfig",
    "DelivererFactory",
    "DeliveryError",
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
