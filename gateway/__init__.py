"""scim-gateway: an asynchronous SCIM 2.0 service provider."""

from __future__ import annotations

__version__ = "0.1.0"

from scim_gateway.app import create_app
from scim_gateway.config import Settings

__all__ = ["Settings", "__version__", "create_app"]
