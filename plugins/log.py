"""The `log` deliverer: writes invitations to the log, for trying the gateway out.

Accept links are secrets, and the logging rules keep them below INFO. This
deliverer exists to show the link, so it logs it at INFO only when its
`links` option is on (`SCIM_GATEWAY_LOG_LINKS=true`, which `make run`
sets); otherwise the INFO line says the link was withheld and the link
goes to DEBUG. Either way it uses the logger `scim_gateway.plugins.log`,
which an operator can route or silence on its own.
"""

from __future__ import annotations

import logging

from scim_gateway.plugins.base import (
    Deliverer,
    DelivererConfig,
    Invitation,
    flag_option,
)

__all__ = ["LogDeliverer"]

logger = logging.getLogger(__name__)


class LogDeliverer(Deliverer):
    """Logs each invitation and event instead of sending it.

    Args:
        show_links: log accept links at INFO. Only for development: anyone
            who reads the log can accept on the person's behalf.
    """

    name = "log"

    def __init__(self, *, show_links: bool = False) -> None:
        self.show_links = show_links

    @classmethod
    def from_config(cls, config: DelivererConfig) -> LogDeliverer:
        return cls(show_links=flag_option(config.options, "links", default=False))

    async def invite(self, invitation: Invitation) -> None:
        if self.show_links:
            logger.info(
                "invitation.link tenant=%s user_id=%s accept_url=%s",
                invitation.tenant,
                invitation.user_id,
                invitation.accept_url,
            )
            return
        logger.info(
            "invitation.link tenant=%s user_id=%s accept_url=withheld "
            "hint=set_SCIM_GATEWAY_LOG_LINKS=true_to_show_it",
            invitation.tenant,
            invitation.user_id,
        )
        logger.debug(
            "invitation.link tenant=%s user_id=%s accept_url=%s",
            invitation.tenant,
            invitation.user_id,
            invitation.accept_url,
        )

    async def accepted(self, invitation: Invitation) -> None:
        self._event(invitation)

    async def confirmed(self, invitation: Invitation) -> None:
        self._event(invitation)

    async def revoked(self, invitation: Invitation) -> None:
        self._event(invitation)

    def _event(self, invitation: Invitation) -> None:
        logger.info(
            "invitation.%s tenant=%s user_id=%s",
            invitation.event.value,
            invitation.tenant,
            invitation.user_id,
        )
