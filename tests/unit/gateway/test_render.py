"""Rendering from stored JSON text gives the same document as rendering decoded.

`render` copies a stored document's text into the response when the
projection keeps every stored attribute; these tests hold it to the long way
(`render_resource`, then `Projection.apply`) for documents made by the same
normalization that every write goes through, in the spellings the backends
store (compact text from SQLite and memory, spaced text from Postgres' jsonb).
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scim_gateway.backends.base import GroupRef, Member, StoredResource
from scim_gateway.errors import ScimError
from scim_gateway.projection import (
    Projection,
    format_datetime,
    render,
    render_resource,
)
from scim_gateway.schemas import ENTERPRISE_USER, INVITATION_USER, SchemaRegistry
from scim_gateway.search import resolve_names
from scim_gateway.validation import normalize_resource

REGISTRY = SchemaRegistry()
USERS = REGISTRY.resource_type("User")
GROUPS = REGISTRY.resource_type("Group")
BASE = "https://example.test/scim/v2"
CREATED = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)

# Strings that look like the JSON around them: quotes, brackets, the key the
# splice looks for, escapes, and text outside the Basic Multilingual Plane.
AWKWARD = [
    '"schemas":["urn:x"]',
    '{"schemas":[',
    "]",
    '\\"',
    "\\",
    "a\u0000b",
    "\u2028",
    "😀 Zoë",
    "",
]
text = st.one_of(st.sampled_from(AWKWARD), st.text(max_size=12))


def spaced(document: dict[str, Any]) -> str:
    """The document as Postgres prints jsonb: spaces, shorter keys first."""
    ordered = dict(sorted(document.items(), key=lambda item: (len(item[0]), item[0])))
    return json.dumps(ordered, ensure_ascii=False)


def compact(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def stored_user(
    body: dict[str, Any], text_of: Any = compact, **relations: Any
) -> StoredResource:
    document = normalize_resource(REGISTRY, USERS, body).document
    return StoredResource(
        resource_type="User",
        id="2819c223-7f76-453a-919d-413861904646",
        text=text_of(document),
        version=3,
        created=CREATED,
        last_modified=CREATED + timedelta(seconds=1),
        **relations,
    )


def long_way(
    stored: StoredResource,
    projection: Projection,
    extensions: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    rendered = render_resource(
        stored, projection.resource_type, base_url=BASE, extensions=extensions
    )
    return projection.apply(rendered)


def as_document(rendered: Any) -> Any:
    return orjson.loads(orjson.dumps(rendered))


def default(resource_type: Any = USERS) -> Projection:
    return Projection(resource_type, _registry=REGISTRY)


def chosen(attributes: tuple[str, ...], excluded: tuple[str, ...] = ()) -> Projection:
    return Projection(
        USERS,
        resolve_names(REGISTRY, USERS, attributes),
        resolve_names(REGISTRY, USERS, excluded),
        _registry=REGISTRY,
    )


bodies = st.fixed_dictionaries(
    {"userName": text.filter(bool)},
    optional={
        "displayName": text,
        "title": text,
        "active": st.booleans(),
        "name": st.fixed_dictionaries({}, optional={"givenName": text}),
        "emails": st.lists(
            st.fixed_dictionaries({"value": text}, optional={"type": text}),
            max_size=3,
        ),
        ENTERPRISE_USER: st.fixed_dictionaries(
            {}, optional={"department": text, "employeeNumber": text}
        ),
    },
)


@settings(max_examples=300, deadline=None)
@given(
    body=bodies,
    text_of=st.sampled_from([compact, spaced]),
    groups=st.none() | st.lists(st.builds(GroupRef, text, text | st.none())),
    invited=st.booleans(),
)
def test_stored_text_renders_as_the_decoded_document(
    body: dict[str, Any], text_of: Any, groups: Any, invited: bool
) -> None:
    try:
        stored = stored_user(body, text_of, groups=groups)
    except ScimError:
        return
    extensions = {INVITATION_USER: {"state": "invited"}} if invited else None
    projection = default()
    assert projection.keeps_stored_documents
    fast = render(stored, USERS, projection, base_url=BASE, extensions=extensions)
    assert isinstance(fast, orjson.Fragment)
    assert as_document(fast) == long_way(stored, projection, extensions)


def test_a_rendered_resource_is_kept_for_its_base_url_and_type() -> None:
    stored = stored_user({"userName": "ada"}, groups=[GroupRef("g1", "Staff")])
    # The same type as another registry may describe it, e.g. without
    # the enterprise extension: nothing rendered for `USERS` is reused.
    other_users = replace(USERS, extensions=())
    elsewhere = "https://other.test/scim"
    invited = {INVITATION_USER: {"state": "invited"}}

    first = render(stored, USERS, default(), base_url=BASE)
    again = render(stored, USERS, default(), base_url=BASE)
    moved = render(stored, USERS, default(), base_url=elsewhere)
    retyped = render(stored, other_users, default(other_users), base_url=elsewhere)
    with_invitation = render(
        stored, USERS, default(), base_url=BASE, extensions=invited
    )
    last = render(stored, USERS, default(), base_url=BASE)

    assert again is first
    assert as_document(moved)["meta"]["location"] == f"{elsewhere}/Users/{stored.id}"
    assert as_document(moved)["groups"][0]["$ref"] == f"{elsewhere}/Groups/g1"
    assert retyped is not moved and as_document(retyped) == as_document(moved)
    assert as_document(with_invitation) == long_way(stored, default(), invited)
    assert last is not first and as_document(last) == as_document(first)


def test_an_extension_shown_renders_the_long_way() -> None:
    # An extension the gateway adds changes `schemas`, inside the stored text.
    projection = chosen((INVITATION_USER,))
    stored = stored_user({"userName": "ada", ENTERPRISE_USER: {"department": "R"}})
    extensions = {INVITATION_USER: {"state": "invited"}}
    rendered = render(stored, USERS, projection, base_url=BASE, extensions=extensions)
    assert isinstance(rendered, dict)
    assert rendered["schemas"] == [USERS.schema.id, INVITATION_USER]


def test_integers_past_64_bits_come_back_exact() -> None:
    big = 2**70 + 1
    stored = StoredResource(
        resource_type="User",
        id="u",
        text=compact({"schemas": [USERS.schema.id], "userName": "a", "x": big}),
        version=1,
        created=CREATED,
        last_modified=CREATED,
    )
    rendered = render(stored, USERS, default(), base_url=BASE)
    assert json.loads(orjson.dumps(rendered))["x"] == big


def test_group_members_keep_display_out_by_default() -> None:
    # members.display is returned only on request: the added part is projected.
    stored = StoredResource(
        resource_type="Group",
        id="g",
        text=compact({"schemas": [GROUPS.schema.id], "displayName": "Ops"}),
        version=1,
        created=CREATED,
        last_modified=CREATED,
        members=[Member("u1", "User", "ada")],
    )
    projection = default(GROUPS)
    fast = as_document(render(stored, GROUPS, projection, base_url=BASE))
    assert fast == long_way(stored, projection)
    assert fast["members"] == [
        {"value": "u1", "$ref": f"{BASE}/Users/u1", "type": "User"}
    ]


@pytest.mark.parametrize(
    "attributes, excluded",
    [(("userName",), ()), ((), ("emails",)), (("name.givenName",), ())],
)
def test_a_chosen_projection_renders_the_long_way(
    attributes: tuple[str, ...], excluded: tuple[str, ...]
) -> None:
    projection = chosen(attributes, excluded)
    stored = stored_user({"userName": "ada", "emails": [{"value": "a@x"}]})
    assert not projection.keeps_stored_documents
    rendered = render(stored, USERS, projection, base_url=BASE)
    assert isinstance(rendered, dict)


def test_text_that_is_not_an_object_renders_the_long_way() -> None:
    stored = StoredResource(
        resource_type="User",
        id="u",
        document={"schemas": [USERS.schema.id], "userName": "a"},
        text=" {}",
        version=1,
        created=CREATED,
        last_modified=CREATED,
    )
    rendered = render(stored, USERS, default(), base_url=BASE)
    assert isinstance(rendered, dict)
    assert rendered["userName"] == "a"


def test_a_stored_resource_decodes_its_text_once_and_encodes_its_document() -> None:
    from_text = StoredResource(
        resource_type="User",
        id="u",
        text='{"userName":"a"}',
        version=1,
        created=CREATED,
        last_modified=CREATED,
    )
    assert from_text.document is from_text.document == {"userName": "a"}
    from_document = StoredResource(
        resource_type="User",
        id="u",
        document={"userName": "a"},
        version=1,
        created=CREATED,
        last_modified=CREATED,
    )
    assert from_document.text == '{"userName":"a"}'
    assert from_text == from_document
    with pytest.raises(TypeError):
        StoredResource(
            resource_type="User",
            id="u",
            version=1,
            created=CREATED,
            last_modified=CREATED,
        )


@given(
    moment=st.datetimes(
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=-7, minutes=-30))])
    )
)
def test_datetimes_print_with_milliseconds_and_z_for_utc(moment: datetime) -> None:
    expected = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert format_datetime(moment) == expected
