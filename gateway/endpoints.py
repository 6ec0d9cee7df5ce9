"""The SCIM resource endpoints: /Users and /Groups, by id, and /.search.

Each handler reads one request from the route to the backend and back:
authenticate, parse, validate, run one backend call or transaction, render,
project, answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from orjson import Fragment
from starlette.requests import Request
from starlette.responses import Response

from scim_gateway.backends.base import Backend, Query, StoredResource, Transaction
from scim_gateway.backends.errors import VersionMismatchError
from scim_gateway.context import GatewayContext, translate_backend_errors
from scim_gateway.errors import InvalidValue, PreconditionFailed
from scim_gateway.http import ScimResponse, read_json
from scim_gateway.logs import note
from scim_gateway.patch import (
    MemberChanges,
    MembersRequired,
    PatchOperation,
    apply_patch,
    member_changes_only,
    parse_patch_request,
)
from scim_gateway.projection import Projection, etag, render
from scim_gateway.schemas import ResourceType
from scim_gateway.search import LIST_RESPONSE, SearchRequest
from scim_gateway.validation import normalize_resource

__all__ = ["ResourceEndpoints"]


class ResourceEndpoints:
    """Handlers bound to one gateway's context (settings, backend, registry)."""

    def __init__(self, context: GatewayContext) -> None:
        self.ctx = context

    @property
    def backend(self) -> Backend:
        return self.ctx.backend

    async def _begin(self, request: Request, route: str) -> tuple[str, ResourceType]:
        resource_type = self.ctx.registry.resource_type(request.scope["scim_resource"])
        note(route=route, resource=resource_type.name)
        tenant = await self.ctx.authenticate_request(request)
        return tenant, resource_type

    async def list_resources(self, request: Request) -> Response:
        tenant, resource_type = await self._begin(request, "/{resource}")
        search = _search_of(request)
        return await self._search(request, tenant, [resource_type], search)

    async def search(self, request: Request) -> Response:
        tenant, resource_type = await self._begin(request, "/{resource}/.search")
        body = await self._read(request)
        search = SearchRequest.from_body(body)
        return await self._search(request, tenant, [resource_type], search)

    async def root_search(self, request: Request) -> Response:
        note(route="/.search")
        tenant = await self.ctx.authenticate_request(request)
        body = await self._read(request)
        search = SearchRequest.from_body(body)
        types = list(self.ctx.registry.resource_types.values())
        return await self._search(request, tenant, types, search)

    async def get(self, request: Request) -> Response:
        tenant, resource_type = await self._begin(request, "/{resource}/{id}")
        resource_id = self._id(request)
        search = _search_of(request)
        projection = search.projection(self.ctx.registry, resource_type)
        with translate_backend_errors():
            stored = await self.backend.get(
                tenant,
                resource_type.name,
                resource_id,
                **_reads_for(resource_type, projection),
            )
        if _is_unchanged(request.headers.get("if-none-match"), stored):
            return Response(status_code=304, headers={"ETag": etag(stored.version)})
        return await self._resource_response(
            request, tenant, stored, resource_type, projection
        )

    async def create(self, request: Request) -> Response:
        tenant, resource_type = await self._begin(request, "/{resource}")
        body = await self._read(request)
        normalized = normalize_resource(
            self.ctx.registry, resource_type, body, limits=self.ctx.limits
        )
        projection = _search_of(request).projection(self.ctx.registry, resource_type)
        with translate_backend_errors():
            if normalized.member_ids:
                async with self.ctx.transaction(tenant) as tx:
                    stored = await tx.create(resource_type.name, normalized.document)
                    _refuse_self_membership(stored.id, normalized.member_ids)
                    await tx.add_members(stored.id, normalized.member_ids)
                    stored = await tx.get(
                        resource_type.name,
                        stored.id,
                        **_reads_for(resource_type, projection),
                    )
            else:
                stored = await self.ctx.create(
                    tenant,
                    resource_type.name,
                    normalized.document,
                    link_base=self.ctx.accept_url(request),
                )
                # Nothing to read back: a new resource has no members and
                # belongs to no group yet.
                stored = _as_new(stored)
        note(id=stored.id)
        response = await self._resource_response(
            request, tenant, stored, resource_type, projection
        )
        response.status_code = 201
        response.headers["Location"] = self._location(request, resource_type, stored.id)
        return response

    async def replace(self, request: Request) -> Response:
        tenant, resource_type = await self._begin(request, "/{resource}/{id}")
        resource_id = self._id(request)
        body = await self._read(request)
        projection = _search_of(request).projection(self.ctx.registry, resource_type)
        expected = self._expected_version(request)
        with translate_backend_errors():
            async with self.ctx.transaction(tenant) as tx:
                current = await tx.get(resource_type.name, resource_id)
                _check_version(expected, current)
                normalized = normalize_resource(
                    self.ctx.registry,
                    resource_type,
                    body,
                    current=current.document,
                    limits=self.ctx.limits,
                )
                await self.ctx.invitations.user_replaced(
                    tx, current, normalized.document, self.ctx.accept_url(request)
                )
                await tx.replace(
                    resource_type.name,
                    resource_id,
                    normalized.document,
                    expected_version=current.version,
                )
                if normalized.member_ids is not None:
                    _refuse_self_membership(resource_id, normalized.member_ids)
                    await tx.replace_members(resource_id, normalized.member_ids)
                stored = await tx.get(
                    resource_type.name,
                    resource_id,
                    **_reads_for(resource_type, projection),
                )
        return await self._resource_response(
            request, tenant, stored, resource_type, projection
        )

    async def patch(self, request: Request) -> Response:
        tenant, resource_type = await self._begin(request, "/{resource}/{id}")
        resource_id = self._id(request)
        operations = parse_patch_request(
            await self._read(request), max_operations=self.ctx.settings.max_operations
        )
        search = _search_of(request)
        projection = search.projection(self.ctx.registry, resource_type)
        expected = self._expected_version(request)
        if not self._patch_returns_resource(resource_type, search):
            changes = self._member_changes_only(
                resource_type, resource_id, operations, expected
            )
            if changes is not None:
                await self._change_members(tenant, resource_id, changes, expected)
                return Response(status_code=204)
        with translate_backend_errors():
            async with self.ctx.transaction(tenant) as tx:
                await self._apply_patch(
                    tx,
                    resource_type,
                    resource_id,
                    operations,
                    expected,
                    request,
                )
                if not self._patch_returns_resource(resource_type, search):
                    return Response(status_code=204)
                stored = await tx.get(
                    resource_type.name,
                    resource_id,
                    **_reads_for(resource_type, projection),
                )
        return await self._resource_response(
            request, tenant, stored, resource_type, projection
        )

    def _member_changes_only(
        self,
        resource_type: ResourceType,
        resource_id: str,
        operations: Sequence[PatchOperation],
        expected: frozenset[int] | None,
    ) -> MemberChanges | None:
        """What a PATCH that only adds and removes members asks of the backend.

        Such a request needs neither the group's document nor a response body,
        so it is one backend write, which checks If-Match as it changes the
        members. None sends the request the general way, where a missing group
        or a failed If-Match is reported before a bad request body.
        """
        if expected is not None and len(expected) != 1:
            return None
        changes = member_changes_only(
            self.ctx.registry, resource_type, operations, limits=self.ctx.limits
        )
        if changes is None or resource_id in changes.add:
            return None
        return changes

    async def _change_members(
        self,
        tenant: str,
        group_id: str,
        changes: MemberChanges,
        expected: frozenset[int] | None,
    ) -> None:
        version = None if expected is None else next(iter(expected))
        with translate_backend_errors():
            try:
                await self.ctx.change_members(
                    tenant, group_id, changes, expected_version=version
                )
            except VersionMismatchError as exc:
                # The words the general way uses, which reads the group first.
                raise PreconditionFailed(_moved_on(exc.actual)) from None

    async def _apply_patch(
        self,
        tx: Transaction,
        resource_type: ResourceType,
        resource_id: str,
        operations: Any,
        expected: frozenset[int] | None,
        request: Request,
    ) -> None:
        current = await tx.get(resource_type.name, resource_id)
        _check_version(expected, current)
        try:
            result = apply_patch(
                self.ctx.registry,
                resource_type,
                current.document,
                operations,
                limits=self.ctx.limits,
            )
        except MembersRequired:
            # Only member filters beyond `value eq` need the member list; Entra's
            # add/remove by id never loads a group of 100,000.
            current = await tx.get(resource_type.name, resource_id, with_members=True)
            result = apply_patch(
                self.ctx.registry,
                resource_type,
                current.document,
                operations,
                members=current.members or [],
                limits=self.ctx.limits,
            )
        if result.document != current.document:
            await tx.replace(
                resource_type.name,
                resource_id,
                result.document,
                expected_version=current.version,
            )
            await self.ctx.invitations.user_replaced(
                tx, current, result.document, self.ctx.accept_url(request)
            )
        changes = result.member_changes
        if changes is None:
            return
        _refuse_self_membership(resource_id, [*(changes.replace or []), *changes.add])
        if changes.replace is not None:
            await tx.replace_members(resource_id, changes.replace)
        if changes.remove:
            await tx.remove_members(resource_id, changes.remove)
        if changes.add:
            await tx.add_members(resource_id, changes.add)

    def _patch_returns_resource(
        self, resource_type: ResourceType, search: SearchRequest
    ) -> bool:
        # Entra expects 204 from a group PATCH, and skipping the read keeps a
        # member add cheap in a group of 100,000 (docs/protocol.md).
        if resource_type.name != "Group":
            return True
        if self.ctx.settings.group_patch_returns_resource:
            return True
        return bool(search.attributes or search.excluded)

    async def delete(self, request: Request) -> Response:
        tenant, resource_type = await self._begin(request, "/{resource}/{id}")
        resource_id = self._id(request)
        expected = self._expected_version(request)
        with translate_backend_errors():
            async with self.ctx.transaction(tenant) as tx:
                version = None
                if expected is not None:
                    current = await tx.get(resource_type.name, resource_id)
                    _check_version(expected, current)
                    version = current.version
                await self.ctx.invitations.user_deleted(
                    tx, resource_type.name, resource_id
                )
                await tx.delete(
                    resource_type.name, resource_id, expected_version=version
                )
        return Response(status_code=204)

    async def _search(
        self,
        request: Request,
        tenant: str,
        resource_types: list[ResourceType],
        search: SearchRequest,
    ) -> Response:
        settings = self.ctx.settings
        registry = self.ctx.registry
        size = search.page_size(
            default=settings.default_page_size, maximum=settings.max_page_size
        )
        across_types = len(resource_types) > 1
        plans = []
        for rt in resource_types:
            query = search.to_query(
                registry,
                rt,
                count=size,
                limits=self.ctx.limits,
                across_types=across_types,
            )
            if query is not None:
                plans.append((rt, query, search.projection(registry, rt)))
        if not plans:
            # No type knows the filter's attribute: say so, as for one type.
            search.to_query(
                registry,
                resource_types[0],
                count=size,
                limits=self.ctx.limits,
            )
        base_url = self.ctx.base_url(request)
        resources: list[dict[str, Any] | Fragment] = []
        total = 0
        with translate_backend_errors():
            for resource_type, query, projection in plans:
                page = await self.backend.query(
                    tenant,
                    resource_type.name,
                    _shifted(query, total, size - len(resources)),
                )
                extensions = await self.ctx.invitations.extensions_of(
                    tenant, page.resources, projection
                )
                resources.extend(
                    render(
                        s,
                        resource_type,
                        projection,
                        base_url=base_url,
                        extensions=extensions.get(s.id) if extensions else None,
                    )
                    for s in page.resources
                )
                total += page.total
        body = {
            "schemas": [LIST_RESPONSE],
            "totalResults": total,
            "itemsPerPage": len(resources),
            "startIndex": search.start_index,
            "Resources": resources,
        }
        return ScimResponse(body)

    async def _resource_response(
        self,
        request: Request,
        tenant: str,
        stored: StoredResource,
        resource_type: ResourceType,
        projection: Projection,
    ) -> ScimResponse:
        base_url = self.ctx.base_url(request)
        with translate_backend_errors():
            extensions = await self.ctx.invitations.extensions_of(
                tenant, [stored], projection
            )
        document = render(
            stored,
            resource_type,
            projection,
            base_url=base_url,
            extensions=extensions.get(stored.id),
        )
        location = f"{base_url}{resource_type.endpoint}/{stored.id}"
        return ScimResponse(
            document,
            headers={"ETag": etag(stored.version), "Content-Location": location},
        )

    def _location(self, request: Request, resource_type: ResourceType, rid: str) -> str:
        return f"{self.ctx.base_url(request)}{resource_type.endpoint}/{rid}"

    async def _read(self, request: Request) -> Any:
        settings = self.ctx.settings
        return await read_json(
            request,
            max_bytes=settings.max_body_bytes,
            max_depth=settings.max_json_depth,
        )

    @staticmethod
    def _id(request: Request) -> str:
        resource_id: str = request.path_params["id"]
        note(id=resource_id)
        return resource_id

    @staticmethod
    def _expected_version(request: Request) -> frozenset[int] | None:
        return parse_entity_tags(request.headers.get("if-match"))


_NO_QUERY = SearchRequest()


def _search_of(request: Request) -> SearchRequest:
    # Most writes carry no query string; parsing an empty one is not free.
    if not request.scope.get("query_string"):
        return _NO_QUERY
    return SearchRequest.from_query(request.query_params)


def parse_entity_tags(header: str | None) -> frozenset[int] | None:
    """The versions an `If-Match` or `If-None-Match` header lists; None for any.

    None stands for an absent header or `*`. Tags this gateway never issued
    (not a version number) are kept out, so they match nothing.
    """
    if header is None or header.strip() == "*":
        return None
    versions = set()
    for tag in header.split(","):
        text = tag.strip().removeprefix("W/").strip('"')
        if text.isdigit() and text.isascii() and len(text) < 19:
            versions.add(int(text))
    return frozenset(versions)


def _check_version(expected: frozenset[int] | None, current: StoredResource) -> None:
    if expected is not None and current.version not in expected:
        raise PreconditionFailed(_moved_on(current.version))


def _moved_on(version: int) -> str:
    return f"If-Match names another version; this one is at {etag(version)}"


def _as_new(stored: StoredResource) -> StoredResource:
    if stored.resource_type == "Group":
        return stored.with_relations(members=[])
    return stored.with_relations(groups=[])


def _refuse_self_membership(group_id: str, member_ids: Sequence[str]) -> None:
    if group_id in member_ids:
        raise InvalidValue("members: a group cannot be a member of itself")


def _is_unchanged(if_none_match: str | None, stored: StoredResource) -> bool:
    if if_none_match is None:
        return False
    tags = parse_entity_tags(if_none_match)
    return tags is None or stored.version in tags


def _reads_for(resource_type: ResourceType, projection: Projection) -> dict[str, bool]:
    if resource_type.name == "Group":
        return {"with_members": projection.wants("members")}
    return {"with_groups": projection.wants("groups")}


def _shifted(query: Query, skipped: int, room: int) -> Query:
    """This type's share of a page that runs across several types (root /.search).

    Earlier types matched `skipped` resources, so this type's rows start that
    much later in the combined list; `room` is what is left of the page.
    """
    if skipped == 0 and room == query.count:
        return query
    return replace(query, start_index=max(query.start_index - skipped, 1), count=room)
