"""scim-gateway: an asynchronous SCIM 2.0 service provider."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
