"""Tenant ids: what a tenant may be called, so it can stand in a URL path."""

from __future__ import annotations

import re

__all__ = ["RESERVED_TENANT_IDS", "check_tenant_id"]

_TENANT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

# With tenants in the path (`/scim/v2/{tenant}/Users`) these would read as the
# SCIM endpoints of RFC 7644 §3.2 rather than as a tenant.
RESERVED_TENANT_IDS = frozenset(
    {
        "users",
        "groups",
        "me",
        "bulk",
        "schemas",
        "resourcetypes",
        "serviceproviderconfig",
        "healthz",
        "readyz",
    }
)


def check_tenant_id(tenant: str) -> str:
    """Return `tenant` if it can name a tenant anywhere, in a path too.

    Raises:
        ValueError: it is empty, too long, has characters other than letters,
            digits, `.`, `_` and `-` (or starts with one of the last three),
            or names a SCIM endpoint.
    """
    if not _TENANT_ID.match(tenant):
        raise ValueError(
            f"tenant id {tenant!r} must be 1 to 64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    if tenant.lower() in RESERVED_TENANT_IDS:
        raise ValueError(f"tenant id {tenant!r} names a SCIM endpoint")
    return tenant
