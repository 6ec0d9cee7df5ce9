"""The discovery endpoints (RFC 7644 §4): built from the registry and the settings.

They advertise only what works: no bulk, no password change (passwords are
never stored), no sorting limits beyond what the backends do.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from scim_gateway.context import GatewayContext
from scim_gateway.errors import NotFound
from scim_gateway.http import ScimResponse
from scim_gateway.logs import note
from scim_gateway.schemas import Attribute, ResourceType, Schema
from scim_gateway.search import LIST_RESPONSE

__all__ = ["DiscoveryEndpoints"]

SPC_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
RESOURCE_TYPE_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SCHEMA_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"


class DiscoveryEndpoints:
    def __init__(self, context: GatewayContext) -> None:
        self.ctx = context

    async def _begin(self, request: Request, route: str) -> str:
        # RFC 7644 §4 lets these be anonymous; Entra and Okta send the token
        # anyway, and answering only authenticated clients reveals less.
        note(route=route)
        await self.ctx.authenticate_request(request)
        return self.ctx.base_url(request)

    async def service_provider_config(self, request: Request) -> Response:
        base = await self._begin(request, "/ServiceProviderConfig")
        settings = self.ctx.settings
        document = {
            "schemas": [SPC_SCHEMA],
            "patch": {"supported": True},
            "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
            "filter": {"supported": True, "maxResults": settings.max_page_size},
            "changePassword": {"supported": False},
            "sort": {"supported": True},
            "etag": {"supported": True},
            "authenticationSchemes": [
                {
                    "type": "oauthbearertoken",
                    "name": "Bearer token",
                    "description": "A secret token sent in Authorization: Bearer.",
                    "specUri": "https://www.rfc-editor.org/rfc/rfc6750",
                    "primary": True,
                }
            ],
            "meta": {
                "resourceType": "ServiceProviderConfig",
                "location": f"{base}/ServiceProviderConfig",
            },
        }
        return ScimResponse(document)

    async def resource_types(self, request: Request) -> Response:
        base = await self._begin(request, "/ResourceTypes")
        documents = [
            _resource_type(rt, base) for rt in self.ctx.registry.resource_types.values()
        ]
        return ScimResponse(_list(documents))

    async def resource_type(self, request: Request) -> Response:
        base = await self._begin(request, "/ResourceTypes/{name}")
        name = request.path_params["name"]
        for rt in self.ctx.registry.resource_types.values():
            if rt.name.lower() == name.lower():
                return ScimResponse(_resource_type(rt, base))
        raise NotFound(f"no resource type {name!r}; see /ResourceTypes")

    async def schemas(self, request: Request) -> Response:
        base = await self._begin(request, "/Schemas")
        documents = [_schema(schema, base) for schema in self.ctx.registry.schemas()]
        return ScimResponse(_list(documents))

    async def schema(self, request: Request) -> Response:
        base = await self._begin(request, "/Schemas/{id}")
        schema_id = request.path_params["id"]
        for schema in self.ctx.registry.schemas():
            if schema.id.lower() == schema_id.lower():
                return ScimResponse(_schema(schema, base))
        raise NotFound(f"no schema {schema_id!r}; see /Schemas")


def _list(documents: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "schemas": [LIST_RESPONSE],
        "totalResults": len(documents),
        "itemsPerPage": len(documents),
        "startIndex": 1,
        "Resources": documents,
    }


def _resource_type(rt: ResourceType, base: str) -> dict[str, Any]:
    return {
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": rt.name,
        "name": rt.name,
        "endpoint": rt.endpoint,
        "description": rt.description,
        "schema": rt.schema.id,
        "schemaExtensions": [
            {"schema": ext.id, "required": False} for ext in rt.extensions
        ],
        "meta": {
            "resourceType": "ResourceType",
            "location": f"{base}/ResourceTypes/{rt.name}",
        },
    }


def _schema(schema: Schema, base: str) -> dict[str, Any]:
    return {
        "schemas": [SCHEMA_SCHEMA],
        "id": schema.id,
        "name": schema.name,
        "description": schema.description,
        "attributes": [_attribute(a) for a in schema.attributes],
        "meta": {"resourceType": "Schema", "location": f"{base}/Schemas/{schema.id}"},
    }


def _attribute(attribute: Attribute) -> dict[str, Any]:
    document: dict[str, Any] = {
        "name": attribute.name,
        "type": attribute.type.value,
        "multiValued": attribute.multi_valued,
        "description": attribute.description,
        "required": attribute.required,
        "caseExact": attribute.case_exact,
        "mutability": attribute.mutability.value,
        "returned": attribute.returned.value,
        "uniqueness": attribute.uniqueness.value,
    }
    if attribute.canonical_values:
        document["canonicalValues"] = list(attribute.canonical_values)
    if attribute.reference_types:
        document["referenceTypes"] = list(attribute.reference_types)
    if attribute.sub_attributes:
        document["subAttributes"] = [
            _attribute(sub) for sub in attribute.sub_attributes
        ]
    return document
