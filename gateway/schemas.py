"""The schema registry: User, Group and the enterprise extension (RFC 7643 §4, §8.7).

One registry drives validation, PATCH, projection, filter resolution and the
discovery endpoints, so what `/Schemas` advertises is what the gateway does.
Attribute names are matched case-insensitively and answered in the canonical
spelling defined here.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from scim_gateway.filters.ast import AttrPath, AttrType
from scim_gateway.filters.errors import UnknownAttributeError

__all__ = [
    "ENTERPRISE_USER",
    "GROUP",
    "INVITATION_USER",
    "USER",
    "Attribute",
    "Mutability",
    "ResourceType",
    "Returned",
    "Schema",
    "SchemaRegistry",
    "Uniqueness",
]

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
# Our own namespace: only the IETF may define URNs under urn:ietf:params:scim.
INVITATION_USER = "urn:scim-gateway:schemas:extension:invitation:1.0:User"


class Mutability(enum.Enum):
    READ_ONLY = "readOnly"
    READ_WRITE = "readWrite"
    IMMUTABLE = "immutable"
    WRITE_ONLY = "writeOnly"


class Returned(enum.Enum):
    ALWAYS = "always"
    NEVER = "never"
    DEFAULT = "default"
    REQUEST = "request"


class Uniqueness(enum.Enum):
    NONE = "none"
    SERVER = "server"
    GLOBAL = "global"


@dataclass(frozen=True)
class Attribute:
    """One attribute definition with its RFC 7643 §7 characteristics."""

    name: str
    type: AttrType = AttrType.STRING
    multi_valued: bool = False
    required: bool = False
    case_exact: bool = False
    mutability: Mutability = Mutability.READ_WRITE
    returned: Returned = Returned.DEFAULT
    uniqueness: Uniqueness = Uniqueness.NONE
    description: str = ""
    sub_attributes: tuple[Attribute, ...] = ()
    canonical_values: tuple[str, ...] = ()
    reference_types: tuple[str, ...] = ()
    _by_key: dict[str, Attribute] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        for sub in self.sub_attributes:
            self._by_key[sub.name.lower()] = sub

    def sub(self, name: str) -> Attribute | None:
        """The sub-attribute called `name` in any letter case, or None."""
        return self._by_key.get(name.lower())


@dataclass(frozen=True)
class Schema:
    id: str
    name: str
    description: str
    attributes: tuple[Attribute, ...]
    _by_key: dict[str, Attribute] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        for attribute in self.attributes:
            self._by_key[attribute.name.lower()] = attribute

    def attribute(self, name: str) -> Attribute | None:
        """The attribute called `name` in any letter case, or None."""
        return self._by_key.get(name.lower())


@dataclass(frozen=True)
class ResourceType:
    """A resource type (RFC 7643 §6): its endpoint, core schema and extensions."""

    name: str
    endpoint: str
    description: str
    schema: Schema
    extensions: tuple[Schema, ...] = ()

    @property
    def schemas(self) -> Iterator[Schema]:
        yield self.schema
        yield from self.extensions

    def extension(self, uri: str) -> Schema | None:
        """The extension schema with URN `uri` in any letter case, or None."""
        lowered = uri.lower()
        return next((s for s in self.extensions if s.id.lower() == lowered), None)

    def schema_for(self, uri: str) -> Schema | None:
        if uri.lower() == self.schema.id.lower():
            return self.schema
        return self.extension(uri)


_attr = Attribute


def _complex(name: str, *subs: Attribute, **kwargs: Any) -> Attribute:
    return Attribute(name, AttrType.COMPLEX, sub_attributes=subs, **kwargs)


def _multi(
    name: str, description: str, *extra: Attribute, types: tuple[str, ...]
) -> Attribute:
    """A multi-valued complex attribute with the usual value/display/type/primary."""
    return _complex(
        name,
        _attr("value", description=f"The {description}."),
        _attr("display", description="A human-readable name, primarily for display."),
        _attr("type", canonical_values=types, description="A label for the function."),
        _attr("primary", AttrType.BOOLEAN, description="The preferred value."),
        *extra,
        multi_valued=True,
        description=f"{description.capitalize()}s of the user.",
    )


# RFC 7643 §3.1: common attributes present on every resource. `id` and `meta`
# are kept by the backend, not in the stored document.
COMMON_ATTRIBUTES: tuple[Attribute, ...] = (
    _attr(
        "id",
        case_exact=True,
        mutability=Mutability.READ_ONLY,
        returned=Returned.ALWAYS,
        uniqueness=Uniqueness.SERVER,
        description="Unique identifier assigned by the service provider.",
    ),
    _attr(
        "externalId",
        case_exact=True,
        description="Identifier of the resource as defined by the client.",
    ),
    _complex(
        "meta",
        _attr("resourceType", case_exact=True, mutability=Mutability.READ_ONLY),
        _attr("created", AttrType.DATETIME, mutability=Mutability.READ_ONLY),
        _attr("lastModified", AttrType.DATETIME, mutability=Mutability.READ_ONLY),
        _attr(
            "location",
            AttrType.REFERENCE,
            case_exact=True,
            mutability=Mutability.READ_ONLY,
        ),
        _attr("version", case_exact=True, mutability=Mutability.READ_ONLY),
        mutability=Mutability.READ_ONLY,
        description="Resource metadata.",
    ),
    _attr(
        "schemas",
        case_exact=False,
        multi_valued=True,
        required=True,
        returned=Returned.ALWAYS,
        description="The schema URNs the resource uses.",
    ),
)

USER_SCHEMA = Schema(
    id=USER,
    name="User",
    description="User Account",
    attributes=(
        _attr(
            "userName",
            required=True,
            uniqueness=Uniqueness.SERVER,
            description="Unique identifier for the user, used to sign in.",
        ),
        _complex(
            "name",
            _attr("formatted"),
            _attr("familyName"),
            _attr("givenName"),
            _attr("middleName"),
            _attr("honorificPrefix"),
            _attr("honorificSuffix"),
            description="The components of the user's real name.",
        ),
        _attr("displayName", description="The name of the user, for display."),
        _attr("nickName", description="The casual way to address the user."),
        _attr("profileUrl", AttrType.REFERENCE, reference_types=("external",)),
        _attr("title", description="The user's title, such as Vice President."),
        _attr("userType", description="The relationship to the organization."),
        _attr("preferredLanguage", description="Preferred language, e.g. en-US."),
        _attr("locale", description="Default location, e.g. en-US."),
        _attr("timezone", description="Time zone in the Olson database format."),
        _attr(
            "active", AttrType.BOOLEAN, description="The user's administrative status."
        ),
        _attr(
            "password",
            mutability=Mutability.WRITE_ONLY,
            returned=Returned.NEVER,
            description="The user's clear-text password; never returned.",
        ),
        _multi("emails", "e-mail address", types=("work", "home", "other")),
        _multi(
            "phoneNumbers",
            "phone number",
            types=("work", "home", "mobile", "fax", "pager", "other"),
        ),
        _multi(
            "ims",
            "instant messaging address",
            types=("aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"),
        ),
        _multi("photos", "photo URL", types=("photo", "thumbnail")),
        _complex(
            "addresses",
            _attr("formatted"),
            _attr("streetAddress"),
            _attr("locality"),
            _attr("region"),
            _attr("postalCode"),
            _attr("country"),
            _attr("type", canonical_values=("work", "home", "other")),
            _attr("primary", AttrType.BOOLEAN),
            multi_valued=True,
            description="Physical mailing addresses of the user.",
        ),
        _complex(
            "groups",
            _attr("value", mutability=Mutability.READ_ONLY),
            _attr(
                "$ref",
                AttrType.REFERENCE,
                reference_types=("Group",),
                mutability=Mutability.READ_ONLY,
            ),
            _attr("display", mutability=Mutability.READ_ONLY),
            _attr(
                "type",
                canonical_values=("direct", "indirect"),
                mutability=Mutability.READ_ONLY,
            ),
            multi_valued=True,
            mutability=Mutability.READ_ONLY,
            description="Groups the user belongs to, computed from memberships.",
        ),
        _multi("entitlements", "entitlement", types=()),
        _multi("roles", "role", types=()),
        _multi("x509Certificates", "certificate", types=()),
    ),
)

GROUP_SCHEMA = Schema(
    id=GROUP,
    name="Group",
    description="Group",
    attributes=(
        _attr(
            "displayName",
            required=True,
            uniqueness=Uniqueness.SERVER,
            description="A human-readable name for the group.",
        ),
        _complex(
            "members",
            _attr("value", mutability=Mutability.IMMUTABLE, case_exact=True),
            _attr(
                "$ref",
                AttrType.REFERENCE,
                mutability=Mutability.IMMUTABLE,
                reference_types=("User", "Group"),
            ),
            # Computed from the member's name on read, so only on request: a
            # client comparing what it wrote with what it reads sees no change.
            _attr(
                "display", mutability=Mutability.READ_ONLY, returned=Returned.REQUEST
            ),
            _attr(
                "type",
                mutability=Mutability.IMMUTABLE,
                canonical_values=("User", "Group"),
            ),
            multi_valued=True,
            description="The members of the group.",
        ),
    ),
)

ENTERPRISE_USER_SCHEMA = Schema(
    id=ENTERPRISE_USER,
    name="EnterpriseUser",
    description="Enterprise User",
    attributes=(
        _attr("employeeNumber"),
        _attr("costCenter"),
        _attr("organization"),
        _attr("division"),
        _attr("department"),
        _complex(
            "manager",
            _attr("value", description="The id of the user's manager."),
            _attr("$ref", AttrType.REFERENCE, reference_types=("User",)),
            _attr("displayName", mutability=Mutability.READ_ONLY),
            description="The user's manager.",
        ),
    ),
)


def _read_only(name: str, kind: AttrType, description: str, **kwargs: Any) -> Attribute:
    return Attribute(
        name,
        kind,
        mutability=Mutability.READ_ONLY,
        returned=Returned.REQUEST,
        description=description,
        **kwargs,
    )


# Filled in by the gateway from the user's invitation (gateway/invitations.py);
# clients read it and cannot write it. It is returned only when asked for
# (`attributes=<this URN>`), so that clients with strict models of User, which
# refuse keys they do not know, keep working.
INVITATION_USER_SCHEMA = Schema(
    id=INVITATION_USER,
    name="Invitation",
    description="The user's invitation into the organization's product",
    attributes=(
        _read_only(
            "state",
            AttrType.STRING,
            "invited, accepted, confirmed or revoked.",
            canonical_values=("invited", "accepted", "confirmed", "revoked"),
        ),
        _read_only(
            "invitedAt", AttrType.DATETIME, "When the latest invitation was made."
        ),
        _read_only("expiresAt", AttrType.DATETIME, "When its accept link expires."),
        _read_only("acceptedAt", AttrType.DATETIME, "When the person accepted."),
        _read_only(
            "confirmedAt", AttrType.DATETIME, "When an administrator confirmed."
        ),
        _read_only("revokedAt", AttrType.DATETIME, "When the invitation was revoked."),
        _read_only(
            "deliveryStatus",
            AttrType.STRING,
            "How delivery of the latest invitation went.",
            canonical_values=("pending", "delivered", "failed"),
        ),
        _read_only(
            "lastDeliveryError",
            AttrType.STRING,
            "Why the latest delivery attempt failed, if it did.",
        ),
    ),
)

USER_TYPE = ResourceType(
    name="User",
    endpoint="/Users",
    description="User Account",
    schema=USER_SCHEMA,
    extensions=(ENTERPRISE_USER_SCHEMA, INVITATION_USER_SCHEMA),
)
GROUP_TYPE = ResourceType(
    name="Group", endpoint="/Groups", description="Group", schema=GROUP_SCHEMA
)


class SchemaRegistry:
    """The resource types the gateway serves, and lookups into their schemas."""

    def __init__(
        self, resource_types: tuple[ResourceType, ...] = (USER_TYPE, GROUP_TYPE)
    ):
        self.resource_types = {rt.name: rt for rt in resource_types}
        self._common = {a.name.lower(): a for a in COMMON_ATTRIBUTES}

    def resource_type(self, name: str) -> ResourceType:
        return self.resource_types[name]

    def schemas(self) -> list[Schema]:
        seen: dict[str, Schema] = {}
        for rt in self.resource_types.values():
            for schema in rt.schemas:
                seen.setdefault(schema.id, schema)
        return list(seen.values())

    def find(
        self, resource_type: ResourceType, name: str, uri: str | None = None
    ) -> tuple[Schema | None, Attribute] | None:
        """Find a top-level attribute; the schema is None for a common attribute.

        Without `uri` the core schema is searched first, then the common
        attributes, then the extensions.
        """
        if uri is not None:
            schema = resource_type.schema_for(uri)
            if schema is None:
                return None
            found = schema.attribute(name)
            if found is None and schema is resource_type.schema:
                common = self._common.get(name.lower())
                return (None, common) if common is not None else None
            return (schema, found) if found is not None else None

        found = resource_type.schema.attribute(name)
        if found is not None:
            return resource_type.schema, found
        common = self._common.get(name.lower())
        if common is not None:
            return None, common
        for extension in resource_type.extensions:
            found = extension.attribute(name)
            if found is not None:
                return extension, found
        return None

    def resolve(self, resource_type: ResourceType, path: AttrPath) -> AttrPath:
        """Give `path` its canonical names and characteristics.

        Raises:
            UnknownAttributeError: the schema defines no such attribute.
        """
        found = self.find(resource_type, path.name, path.uri)
        if found is None:
            raise UnknownAttributeError(_spell(path))
        schema, attribute = found
        # Only extension attributes keep their URN: the document nests them
        # under it, while core and common attributes sit at the top level.
        is_extension = schema is not None and schema is not resource_type.schema
        uri = schema.id if is_extension and schema is not None else None
        if path.sub is None:
            return replace(
                path,
                name=attribute.name,
                uri=uri,
                type=attribute.type,
                case_exact=attribute.case_exact,
                multi_valued=attribute.multi_valued,
            )

        sub = attribute.sub(path.sub)
        if sub is None:
            raise UnknownAttributeError(_spell(path))
        return replace(
            path,
            name=attribute.name,
            sub=sub.name,
            uri=uri,
            type=sub.type,
            case_exact=sub.case_exact,
            multi_valued=attribute.multi_valued or sub.multi_valued,
        )


def _spell(path: AttrPath) -> str:
    prefix = f"{path.uri}:" if path.uri else ""
    return prefix + path.dotted
