"""Resource bodies from POST and PUT become storable documents, or clear errors."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

import scim_gateway.validation
from scim_gateway.errors import InvalidSyntax, InvalidValue, Mutability, ScimError
from scim_gateway.filters.ast import AttrType
from scim_gateway.schemas import (
    ENTERPRISE_USER,
    GROUP,
    USER,
    USER_TYPE,
    Attribute,
    ResourceType,
    SchemaRegistry,
)
from scim_gateway.schemas import (
    Mutability as Mut,
)
from scim_gateway.validation import (
    Limits,
    NormalizedResource,
    member_ids,
    normalize_resource,
)

REGISTRY = SchemaRegistry()
USERS = REGISTRY.resource_type("User")
GROUPS = REGISTRY.resource_type("Group")
ADSCIM = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"


def user(body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    return normalize_resource(REGISTRY, USERS, body, **kwargs).document


def group(body: dict[str, Any]) -> NormalizedResource:
    return normalize_resource(REGISTRY, GROUPS, body)


def error_of(body: object, resource_type: ResourceType = USERS) -> ScimError:
    with pytest.raises(ScimError) as caught:
        normalize_resource(REGISTRY, resource_type, body)
    return caught.value


class TestEntraCreate:
    def test_entra_user_create_keeps_values_and_drops_meta_nulls_and_empty_roles(
        self,
    ) -> None:
        body = {
            "schemas": [USER, ENTERPRISE_USER],
            "externalId": "mquenby",
            "userName": "Marisol.Quenby@corp.example.com",
            "active": "True",
            "emails": [{"primary": True, "type": "work", "value": "m@example.com"}],
            "meta": {"resourceType": "User"},
            "name": {"familyName": "Quenby", "givenName": "Marisol"},
            "phoneNumbers": None,
            "addresses": None,
            "roles": [],
            ENTERPRISE_USER: {"employeeNumber": "E-20931", "manager": "mgr-1"},
        }

        document = user(body)

        assert document == {
            "schemas": [USER, ENTERPRISE_USER],
            "externalId": "mquenby",
            "userName": "Marisol.Quenby@corp.example.com",
            "active": True,
            "emails": [{"primary": True, "type": "work", "value": "m@example.com"}],
            "name": {"familyName": "Quenby", "givenName": "Marisol"},
            ENTERPRISE_USER: {
                "employeeNumber": "E-20931",
                "manager": {"value": "mgr-1"},
            },
        }

    def test_group_with_unknown_schema_urn_and_no_members_has_no_member_ids(
        self,
    ) -> None:
        body = {
            "schemas": [GROUP, ADSCIM],
            "externalId": "5d2e8c41",
            "displayName": "Fairhaven Field Ops",
            "meta": {"resourceType": "Group"},
        }

        result = group(body)

        assert result == NormalizedResource(
            {
                "schemas": [GROUP],
                "externalId": "5d2e8c41",
                "displayName": "Fairhaven Field Ops",
            },
            None,
        )

    @pytest.mark.parametrize(
        ("sent", "stored"),
        [
            ("True", True),
            ("False", False),
            ("true", True),
            ("false", False),
            (True, True),
        ],
    )
    def test_active_accepts_string_booleans(self, sent: object, stored: bool) -> None:
        document = user({"userName": "ann", "active": sent})

        assert document["active"] is stored


class TestNames:
    def test_attribute_names_match_in_any_case_and_are_stored_canonically(self) -> None:
        body = {
            "USERNAME": "ann",
            "Name": {"GIVENNAME": "Ann"},
            "emails": [{"Value": "a@example.com", "TYPE": "work"}],
            ENTERPRISE_USER.upper(): {"DEPARTMENT": "R&D"},
        }

        document = user(body)

        assert document == {
            "schemas": [USER, ENTERPRISE_USER],
            "userName": "ann",
            "name": {"givenName": "Ann"},
            "emails": [{"value": "a@example.com", "type": "work"}],
            ENTERPRISE_USER: {"department": "R&D"},
        }

    def test_urn_qualified_keys_land_under_their_schema(self) -> None:
        body = {
            f"{USER}:userName": "ann",
            f"{ENTERPRISE_USER}:employeeNumber": "7",
        }

        document = user(body)

        assert document == {
            "schemas": [USER, ENTERPRISE_USER],
            "userName": "ann",
            ENTERPRISE_USER: {"employeeNumber": "7"},
        }

    def test_unknown_namespace_keys_are_ignored(self) -> None:
        body = {
            "schemas": [USER, "urn:ietf:params:scim:schemas:extension:acme:2.0:User"],
            "userName": "ann",
            "urn:ietf:params:scim:schemas:extension:acme:2.0:User": {"badge": "7"},
        }

        document = user(body)

        assert document == {"schemas": [USER], "userName": "ann"}

    def test_onelogin_scim11_schema_urns_are_ignored(self) -> None:
        body = {
            "schemas": [
                "urn:scim:schemas:core:2.0",
                "urn:scim:schemas:extension:enterprise:2.0",
            ],
            "userName": "ann",
        }

        assert user(body) == {"schemas": [USER], "userName": "ann"}

    def test_body_without_schemas_is_accepted(self) -> None:
        assert group({"displayName": "Lab"}).document == {
            "schemas": [GROUP],
            "displayName": "Lab",
        }

    def test_same_attribute_twice_in_different_case_is_invalid_value(self) -> None:
        error = error_of({"userName": "ann", "username": "bo"})

        assert isinstance(error, InvalidValue)
        assert error.detail == 'attribute "userName" is given twice'


class TestKeysKnownFromEarlierBodies:
    """Each key's meaning is worked out once per spelling and kept; never wrongly."""

    def test_a_key_read_again_means_the_same(self) -> None:
        body = {"USERNAME": "ann", f"{ENTERPRISE_USER}:department": "Ops"}

        first, second = user(body), user(body)

        assert (
            first
            == second
            == {
                "schemas": [USER, ENTERPRISE_USER],
                "userName": "ann",
                ENTERPRISE_USER: {"department": "Ops"},
            }
        )

    def test_one_spelling_keeps_its_meaning_per_resource_type(self) -> None:
        users_first = user({"userName": "ann", "displayName": "Ann"})
        groups = group({"displayName": "Staff"}).document
        users_again = user({"userName": "bo", "displayName": "Bo"})

        assert users_first["displayName"] == "Ann"
        assert groups == {"schemas": [GROUP], "displayName": "Staff"}
        assert users_again["displayName"] == "Bo"

    def test_an_unknown_attribute_is_refused_every_time(self) -> None:
        errors = [error_of({"userName": "ann", "nickNmae": "a"}) for _ in range(2)]

        assert [e.detail for e in errors] == ['unknown attribute "nickNmae"'] * 2
        assert all(isinstance(e, InvalidValue) for e in errors)

    def test_keys_past_the_bound_are_still_read(self) -> None:
        registry = SchemaRegistry()
        users = registry.resource_type("User")
        bodies = [{"userName": f"u{i}", f"urn:example:{i}": "x"} for i in range(1100)]

        documents = [normalize_resource(registry, users, b).document for b in bodies]

        assert documents[-1] == {"schemas": [USER], "userName": "u1099"}
        assert len(scim_gateway.validation._known_keys[registry]) == 1024


class TestDropped:
    def test_read_only_and_write_only_attributes_are_not_stored(self) -> None:
        body = {
            "id": "abc",
            "userName": "ann",
            "groups": [],
            "password": "q7rm2xvt",
            "meta": {"resourceType": "User", "version": 'W/"3"'},
            "emails": [{"value": "a@example.com", "display": "a@example.com"}],
        }

        document = user(body)

        assert document == {
            "schemas": [USER],
            "userName": "ann",
            "emails": [{"value": "a@example.com", "display": "a@example.com"}],
        }

    def test_manager_display_name_is_read_only(self) -> None:
        body = {
            "userName": "ann",
            ENTERPRISE_USER: {"manager": {"value": "m1", "displayName": "Oskar"}},
        }

        assert user(body)[ENTERPRISE_USER] == {"manager": {"value": "m1"}}

    def test_null_extension_block_is_dropped(self) -> None:
        body = {"userName": "ann", ENTERPRISE_USER: None, "schemas": None}

        assert user(body) == {"schemas": [USER], "userName": "ann"}

    def test_empty_extension_block_is_dropped_with_its_urn(self) -> None:
        body = {
            "schemas": [USER, ENTERPRISE_USER],
            "userName": "ann",
            ENTERPRISE_USER: {},
        }

        assert user(body) == {"schemas": [USER], "userName": "ann"}

    def test_empty_strings_are_kept_as_sent(self) -> None:
        body = {"userName": "tsolberg", "name": {"givenName": "Tove", "familyName": ""}}

        assert user(body)["name"] == {"givenName": "Tove", "familyName": ""}

    def test_strings_keep_spaces_and_case(self) -> None:
        body = {
            "userName": "Ann",
            "name": {"familyName": " User 01"},
            "phoneNumbers": [{"value": "+1 555 0142"}],
        }

        document = user(body)

        assert document["name"] == {"familyName": " User 01"}
        assert document["phoneNumbers"] == [{"value": "+1 555 0142"}]


class TestMultiValued:
    def test_single_object_for_multi_valued_attribute_is_one_element_list(self) -> None:
        body = {"userName": "ann", "emails": {"value": "a@example.com", "type": "work"}}

        assert user(body)["emails"] == [{"value": "a@example.com", "type": "work"}]

    def test_two_primary_values_are_invalid_value(self) -> None:
        body = {
            "userName": "ann",
            "emails": [
                {"value": "c@example.com", "primary": True},
                {"value": "d@example.com", "primary": "True"},
            ],
        }

        error = error_of(body)

        assert isinstance(error, InvalidValue)
        assert error.detail == 'attribute "emails" has more than one primary value'

    def test_exact_duplicate_values_are_stored_once(self) -> None:
        body = {
            "userName": "ann",
            "emails": [{"value": "a@x.org"}, {"value": "a@x.org"}],
        }

        assert user(body)["emails"] == [{"value": "a@x.org"}]

    def test_null_and_empty_elements_are_dropped(self) -> None:
        body = {
            "userName": "ann",
            "emails": [None, {}, {"value": "a@x.org", "type": None}],
        }

        assert user(body)["emails"] == [{"value": "a@x.org"}]

    def test_too_many_values_is_invalid_value(self) -> None:
        body = {
            "userName": "ann",
            "emails": [{"value": f"{i}@x.org"} for i in range(3)],
        }

        with pytest.raises(InvalidValue) as caught:
            normalize_resource(REGISTRY, USERS, body, limits=Limits(max_values=2))

        assert (
            caught.value.detail
            == 'attribute "emails" holds 3 values; at most 2 are allowed'
        )


class TestMembers:
    def test_members_are_returned_beside_the_document(self) -> None:
        body = {
            "displayName": "Lab",
            "members": [
                {"value": "u1", "$ref": None, "type": "User"},
                {"value": "u2", "display": "bo", "displayName": "Bo", "stray": 1},
                {"value": "u1"},
            ],
        }

        result = group(body)

        assert result == NormalizedResource(
            {"schemas": [GROUP], "displayName": "Lab"}, ["u1", "u2"]
        )

    def test_empty_members_is_an_empty_list(self) -> None:
        assert group({"displayName": "Lab", "members": []}).member_ids == []

    @pytest.mark.parametrize(
        "members", [42, ["u1"], [{"value": ""}], [{"display": "x"}]]
    )
    def test_unreadable_members_are_invalid_value(self, members: object) -> None:
        error = error_of({"displayName": "Lab", "members": members}, GROUPS)

        assert isinstance(error, InvalidValue)
        assert "members" in error.detail

    def test_null_members_are_no_members(self) -> None:
        assert group({"displayName": "Lab", "members": None}).member_ids is None
        assert member_ids(None) == []

    def test_member_id_over_the_limit_is_invalid_value(self) -> None:
        with pytest.raises(InvalidValue) as caught:
            member_ids([{"value": "x" * 11}], limits=Limits(max_string_length=10))

        assert caught.value.detail == 'a "members" value is longer than allowed'

    def test_member_ids_reads_a_single_member_object(self) -> None:
        assert member_ids({"value": "u1"}) == ["u1"]


class TestErrors:
    @pytest.mark.parametrize("body", [[], "text", 3, None])
    def test_non_object_body_is_invalid_syntax(self, body: object) -> None:
        error = error_of(body)

        assert isinstance(error, InvalidSyntax)
        assert error.detail.startswith("the resource must be a JSON object")

    @pytest.mark.parametrize(
        ("body", "detail"),
        [
            ({"displayName": "x"}, 'attribute "userName" is required'),
            ({"userName": ""}, 'attribute "userName" is required'),
            ({"userName": "  "}, 'attribute "userName" is required'),
            ({"userName": None}, 'attribute "userName" is required'),
            ({"userName": "a", "nosuch": 1}, 'unknown attribute "nosuch"'),
            ({"userName": "a", "department": "x"}, 'unknown attribute "department"'),
            (
                {"userName": "a", "name": {"middle": "x"}},
                'unknown attribute "name.middle"',
            ),
            (
                {"userName": "a", ENTERPRISE_USER: {"badge": "x"}},
                f'unknown attribute "{ENTERPRISE_USER}:badge"',
            ),
            (
                {"userName": "a", f"{USER}:badge": "x"},
                f'unknown attribute "{USER}:badge"',
            ),
            ({"userName": 5}, 'attribute "userName" must be a string, not a number'),
            (
                {"userName": "a", "active": "yes"},
                'attribute "active" must be a boolean, not a string',
            ),
            (
                {"userName": "a", "active": 1},
                'attribute "active" must be a boolean, not a number',
            ),
            (
                {"userName": "a", "name": "Ann"},
                'attribute "name" must be an object, not a string',
            ),
            (
                {"userName": "a", "emails": "a@x.org"},
                'attribute "emails" must be a list, not a string',
            ),
            (
                {"userName": "a", "emails": ["a@x.org"]},
                'attribute "emails" must be an object, not a string',
            ),
            (
                {"userName": "a", "emails": [{"primary": "maybe"}]},
                'attribute "emails.primary" must be a boolean, not a string',
            ),
            (
                {"userName": "a", "name": {"givenName": {"x": 1}}},
                'attribute "name.givenName" must be a string, not an object',
            ),
            (
                {"userName": "a", ENTERPRISE_USER: "x"},
                f'"{ENTERPRISE_USER}" must be an object, not a string',
            ),
            ({"userName": "a", "schemas": "x"}, None),
            (
                {"userName": "a", "name": {"givenName": "A", "GivenName": "B"}},
                'attribute "name.givenName" is given twice',
            ),
            (
                {"userName": "a", "schemas": [1]},
                '"schemas" must be a list of URNs, not an array',
            ),
        ],
    )
    def test_invalid_bodies_name_the_attribute(
        self, body: dict[str, Any], detail: str | None
    ) -> None:
        if detail is None:
            assert user(body) == {"schemas": [USER], "userName": "a"}
            return

        error = error_of(body)

        assert isinstance(error, InvalidValue)
        assert error.detail == detail

    def test_group_without_display_name_is_invalid_value(self) -> None:
        error = error_of({"members": []}, GROUPS)

        assert isinstance(error, InvalidValue)
        assert error.detail == 'attribute "displayName" is required'

    def test_string_over_the_limit_is_invalid_value(self) -> None:
        with pytest.raises(InvalidValue) as caught:
            normalize_resource(
                REGISTRY,
                USERS,
                {"userName": "x" * 11},
                limits=Limits(max_string_length=10),
            )

        assert (
            caught.value.detail == 'attribute "userName" is longer than 10 characters'
        )


def typed_registry() -> tuple[SchemaRegistry, ResourceType]:
    schema = USER_TYPE.schema
    extra = (
        Attribute("badge", AttrType.INTEGER),
        Attribute("score", AttrType.DECIMAL),
        Attribute("hired", AttrType.DATETIME),
    )
    users = replace(
        USER_TYPE, schema=replace(schema, attributes=(*schema.attributes, *extra))
    )
    return SchemaRegistry((users,)), users


class TestTypes:
    """Types the core schemas do not use, on a registry made for the test."""

    @pytest.mark.parametrize(
        ("name", "value"),
        [
            ("badge", 7),
            ("score", 7),
            ("score", 7.5),
            ("hired", "2024-05-01T08:30:00Z"),
            ("hired", "2024-05-01T08:30:00.123+02:00"),
        ],
    )
    def test_valid_values_are_stored_as_sent(self, name: str, value: object) -> None:
        registry, users = typed_registry()

        result = normalize_resource(registry, users, {"userName": "a", name: value})

        assert result.document[name] == value

    @pytest.mark.parametrize(
        ("name", "value", "detail"),
        [
            ("badge", 7.5, 'attribute "badge" must be an integer, not a number'),
            ("badge", "7", 'attribute "badge" must be an integer, not a string'),
            ("badge", True, 'attribute "badge" must be an integer, not a boolean'),
            ("score", "7", 'attribute "score" must be a number, not a string'),
            ("hired", "2024-05-01", 'attribute "hired" must be an xsd:dateTime'),
            ("hired", "yesterday", 'attribute "hired" must be an xsd:dateTime'),
            ("hired", 20240501, 'attribute "hired" must be a string, not a number'),
        ],
    )
    def test_invalid_values_name_the_type(
        self, name: str, value: object, detail: str
    ) -> None:
        registry, users = typed_registry()

        with pytest.raises(InvalidValue) as caught:
            normalize_resource(registry, users, {"userName": "a", name: value})

        assert caught.value.detail == detail


class TestReplace:
    def test_put_drops_values_left_out(self) -> None:
        current = {"schemas": [USER], "userName": "ann", "title": "Pilot"}

        document = user({"userName": "ann", "id": "x"}, current=current)

        assert document == {"schemas": [USER], "userName": "ann"}


def immutable_registry() -> tuple[SchemaRegistry, ResourceType]:
    """`nickName` and `name.givenName` made immutable."""
    schema = USER_TYPE.schema
    attributes = tuple(_immutable(a) for a in schema.attributes)
    users = replace(USER_TYPE, schema=replace(schema, attributes=attributes))
    return SchemaRegistry((users,)), users


def _immutable(attribute: Attribute) -> Attribute:
    if attribute.name == "nickName":
        return replace(attribute, mutability=Mut.IMMUTABLE)
    if attribute.name == "name":
        subs = tuple(
            replace(s, mutability=Mut.IMMUTABLE) if s.name == "givenName" else s
            for s in attribute.sub_attributes
        )
        return replace(attribute, sub_attributes=subs)
    return attribute


class TestImmutable:
    def test_put_changing_an_immutable_value_is_mutability(self) -> None:
        registry, users = immutable_registry()
        current = {"schemas": [USER], "userName": "ann", "nickName": "annie"}

        with pytest.raises(Mutability) as caught:
            normalize_resource(
                registry, users, {"userName": "ann", "nickName": "an"}, current=current
            )

        assert (
            caught.value.detail == 'attribute "nickName" is immutable and cannot change'
        )

    def test_put_leaving_out_an_immutable_value_keeps_it(self) -> None:
        registry, users = immutable_registry()
        current = {"schemas": [USER], "userName": "ann", "nickName": "annie"}

        result = normalize_resource(
            registry, users, {"userName": "bo"}, current=current
        )

        assert result.document == {
            "schemas": [USER],
            "userName": "bo",
            "nickName": "annie",
        }

    def test_put_setting_an_unset_immutable_value_is_accepted(self) -> None:
        registry, users = immutable_registry()
        current = {"schemas": [USER], "userName": "ann"}

        result = normalize_resource(
            registry, users, {"userName": "ann", "nickName": "an"}, current=current
        )

        assert result.document["nickName"] == "an"

    def test_put_changing_an_immutable_sub_attribute_is_mutability(self) -> None:
        registry, users = immutable_registry()
        current = {"schemas": [USER], "userName": "ann", "name": {"givenName": "Ann"}}

        with pytest.raises(Mutability) as caught:
            normalize_resource(
                registry,
                users,
                {"userName": "ann", "name": {"givenName": "Anne"}},
                current=current,
            )

        assert caught.value.detail == (
            'attribute "name.givenName" is immutable and cannot change'
        )


def test_public_names_are_pinned() -> None:
    assert sorted(scim_gateway.validation.__all__) == [
        "DEFAULT_LIMITS",
        "Limits",
        "NormalizedResource",
        "check_immutable",
        "is_members",
        "member_ids",
        "normalize_resource",
    ]
