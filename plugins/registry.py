"""Finding a deliverer by name: registered in Python, built in, or an entry point.

Third-party deliverers are installed packages that declare an entry point in
the group `scim_gateway.invitations`, naming a factory that takes a
`DelivererConfig` and returns a `Deliverer` (docs/plugins.md).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from importlib.metadata import entry_points

from scim_gateway.plugins.base import Deliverer, DelivererConfig

__all__ = [
    "ENTRY_POINT_GROUP",
    "DelivererFactory",
    "available_deliverers",
    "load_deliverer",
    "register_deliverer",
]

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "scim_gateway.invitations"

DelivererFactory = Callable[[DelivererConfig], Deliverer]

# Imported only when chosen, so that an unused deliverer costs nothing.
_BUILTIN = {
    "log": "scim_gateway.plugins.log:LogDeliverer",
    "smtp": "scim_gateway.plugins.smtp:SmtpDeliverer",
    "webhook": "scim_gateway.plugins.webhook:WebhookDeliverer",
}

_registered: dict[str, DelivererFactory] = {}


def register_deliverer(name: str, factory: DelivererFactory) -> None:
    """Make a deliverer available by `name` in this process, before any other.

    For an application that embeds the gateway and keeps its deliverer in
    its own code rather than in an installed package.
    """
    _registered[name] = factory


def available_deliverers() -> list[str]:
    """The names `load_deliverer` knows: registered, built in, and entry points."""
    names = set(_registered) | set(_BUILTIN)
    names.update(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
    return sorted(names)


def load_deliverer(name: str, config: DelivererConfig) -> Deliverer:
    """Build the deliverer called `name`.

    Raises:
        LookupError: no deliverer has that name.
        ValueError: the deliverer's options are missing or wrong.
    """
    factory = _registered.get(name) or _builtin(name) or _entry_point(name)
    if factory is None:
        known = ", ".join(available_deliverers())
        raise LookupError(f"no invitation deliverer named {name!r}; known: {known}")
    deliverer = factory(config)
    logger.debug("deliverer.loaded name=%s type=%s", name, type(deliverer).__name__)
    return deliverer


def _builtin(name: str) -> DelivererFactory | None:
    target = _BUILTIN.get(name)
    if target is None:
        return None
    module, _, attribute = target.partition(":")
    cls = getattr(importlib.import_module(module), attribute)
    factory: DelivererFactory = cls.from_config
    return factory


def _entry_point(name: str) -> DelivererFactory | None:
    for point in entry_points(group=ENTRY_POINT_GROUP, name=name):
        loaded = point.load()
        # An entry point may name a factory, or a Deliverer class that has one.
        if isinstance(loaded, type) and issubclass(loaded, Deliverer):
            return getattr(loaded, "from_config", None) or _no_options(loaded)
        factory: DelivererFactory = loaded
        return factory
    return None


def _no_options(cls: type[Deliverer]) -> DelivererFactory:
    def build(config: DelivererConfig) -> Deliverer:
        return cls()

    return build
