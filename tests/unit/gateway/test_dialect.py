"""Real clients' PATCH requests: the PatchOp envelope and the client dialects."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from scim_gateway.errors import (
    InvalidPath,
    InvalidSyntax,
    InvalidValue,
    NoTarget,
    PayloadTooLarge,
    ScimError,
)
from scim_gateway.patch import MemberChanges, PatchResult
from scim_gateway.patchop import PATCH_OP, Op, PatchOperation, parse_patch_request
from scim_gateway.schemas import GROUP, USER
from tests.unit.gateway.patching import (
    ANN,
    ENTERPRISE,
    LAB,
    body,
    edited,
    patch_group,
    patch_user,
)

MANAGER = f"{ENTERPRISE}:manager"


class TestParseRequest:
    def test_op_is_matched_in_any_case_and_stray_keys_are_ignored(self) -> None:
        operations = parse_patch_request(
            body(
                {"op": "Add", "path": "title", "value": "x", "name": "addMember"},
                {"op": "REPLACE", "path": " active ", "value": "False"},
                {"op": "remove", "path": "title"},
            )
        )

        assert operations == [
            PatchOperation(Op.ADD, "title", "x"),
            PatchOperation(Op.REPLACE, "active", "False"),
            PatchOperation(Op.REMOVE, "title"),
        ]

    def test_empty_operations_and_missing_schemas_are_accepted(self) -> None:
        assert parse_patch_request({"Operations": []}) == []

    def test_lower_case_operations_key_is_accepted(self) -> None:
        operations = parse_patch_request(
            {
                "schemas": [PATCH_OP.upper()],
                "operations": [{"op": "remove", "path": "x"}],
            }
        )

        assert operations == [PatchOperation(Op.REMOVE, "x")]

    def test_empty_path_is_no_path(self) -> None:
        operations = parse_patch_request(
            body({"op": "replace", "path": "", "value": {}})
        )

        assert operations == [PatchOperation(Op.REPLACE, None, {})]

    @pytest.mark.parametrize(
        ("request_body", "detail"),
        [
            ([], "the PATCH body must be a JSON object"),
            ({"schemas": [PATCH_OP]}, 'the PatchOp request has no "Operations"'),
            (
                {"schemas": [USER], "Operations": []},
                f'"schemas" must contain "{PATCH_OP}"',
            ),
            (
                body({"op": "Frobnicate", "path": "title", "value": "X"}),
                'operation 1 has op "Frobnicate"; expected add, remove or replace',
            ),
            (
                body({"op": "remove", "path": "x"}, {"op": "add", "path": "title"}),
                'operation 2 ("add") has no "value"',
            ),
            (body({"path": "title"}), 'the PatchOp request has no "Operations.0.op"'),
            (
                body({"op": "add", "path": 7, "value": "x"}),
                '"Operations.0.path" in the PatchOp request is invalid: '
                "input should be a valid string",
            ),
            (
                {"Operations": {"op": "add"}},
                '"Operations" in the PatchOp request is invalid: '
                "input should be a valid list",
            ),
        ],
    )
    def test_malformed_requests_are_invalid_syntax(
        self, request_body: object, detail: str
    ) -> None:
        with pytest.raises(InvalidSyntax) as caught:
            parse_patch_request(request_body)

        assert caught.value.detail == detail

    def test_too_many_operations_are_refused(self) -> None:
        request_body = body(*[{"op": "remove", "path": "title"}] * 3)

        with pytest.raises(PayloadTooLarge) as caught:
            parse_patch_request(request_body, max_operations=2)

        assert (
            caught.value.detail == "the request has 3 operations; at most 2 are allowed"
        )


class TestPathLess:
    def test_dotted_and_urn_keys_update_nested_attributes(self) -> None:
        result = patch_user(
            ANN,
            {
                "op": "replace",
                "value": {
                    "displayName": "Ann L.",
                    "name.givenName": "Annie",
                    f"{ENTERPRISE}:employeeNumber": "702",
                    f"{USER}:userName": "ann.l@example.com",
                },
            },
        )

        assert result.document == edited(
            ANN,
            {
                "displayName": "Ann L.",
                "userName": "ann.l@example.com",
                "name": {"givenName": "Annie", "familyName": "Lee"},
                ENTERPRISE: {"employeeNumber": "702", "department": "Finance"},
            },
        )

    def test_extension_object_key_merges_into_the_extension(self) -> None:
        result = patch_user(
            ANN, {"op": "add", "value": {ENTERPRISE: {"department": "Risk"}}}
        )

        assert result.document == edited(
            ANN, {ENTERPRISE: {"employeeNumber": "701", "department": "Risk"}}
        )

    def test_read_only_keys_and_unknown_namespaces_are_ignored(self) -> None:
        result = patch_user(
            ANN,
            {
                "op": "replace",
                "value": {
                    "schemas": [USER],
                    "id": "other-id",
                    "meta": {"resourceType": "User"},
                    "groups": [],
                    "urn:example:acme:2.0:User:badge": "7",
                    "title": "Pilot",
                },
            },
        )

        assert result.document == edited(ANN, {"title": "Pilot"})

    def test_unknown_dotted_key_is_invalid_path(self) -> None:
        with pytest.raises(InvalidPath) as caught:
            patch_user(
                ANN,
                {
                    "op": "replace",
                    "value": {"displayName": "W", "name.nosuchPart": "x"},
                },
            )

        assert '"name.nosuchPart"' in caught.value.detail

    def test_core_schema_urn_as_path_addresses_the_resource(self) -> None:
        result = patch_user(
            ANN, {"op": "add", "path": USER, "value": {"title": "Pilot"}}
        )

        assert result.document == edited(ANN, {"title": "Pilot"})

    def test_null_extension_in_a_path_less_replace_removes_it(self) -> None:
        result = patch_user(ANN, {"op": "replace", "value": {ENTERPRISE: None}})

        assert result.document == edited(ANN, {"schemas": [USER], ENTERPRISE: None})

    def test_null_extension_in_a_path_less_add_changes_nothing(self) -> None:
        result = patch_user(ANN, {"op": "add", "value": {ENTERPRISE: None}})

        assert result == PatchResult(ANN, None, False)

    def test_extension_that_is_not_an_object_is_invalid_value(self) -> None:
        with pytest.raises(InvalidValue) as caught:
            patch_user(ANN, {"op": "add", "path": ENTERPRISE, "value": "x"})

        assert caught.value.detail == f'"{ENTERPRISE}" must be an object, not a string'

    def test_whole_group_value_renames_without_touching_members(self) -> None:
        result = patch_group(
            {
                "op": "replace",
                "value": {
                    "schemas": [GROUP],
                    "displayName": "Laboratory",
                    "externalId": "6b2f0c1e",
                },
            }
        )

        assert result == PatchResult(
            {"schemas": [GROUP], "displayName": "Laboratory", "externalId": "6b2f0c1e"},
            None,
            True,
        )

    def test_null_members_in_a_path_less_replace_leave_members_alone(self) -> None:
        result = patch_group(
            {"op": "replace", "value": {"displayName": "Lab", "members": None}}
        )

        assert result == PatchResult(LAB, None, False)

    def test_members_key_in_a_path_less_add_adds_members(self) -> None:
        result = patch_group({"op": "add", "value": {"members": [{"value": "u1"}]}})

        assert result.member_changes == MemberChanges(add=["u1"])


class TestEntraQuirks:
    @pytest.mark.parametrize(
        ("value", "stored"),
        [("False", False), ("false", False), ("True", True), (False, False)],
    )
    def test_string_booleans(self, value: object, stored: bool) -> None:
        result = patch_user(ANN, {"op": "Replace", "path": "active", "value": value})

        assert result.document["active"] is stored

    def test_string_boolean_inside_a_value_object(self) -> None:
        result = patch_user(
            ANN,
            {
                "op": "add",
                "path": "emails",
                "value": [{"value": "b@x.org", "primary": "True"}],
            },
        )

        assert result.document["emails"][-1] == {"value": "b@x.org", "primary": True}

    def test_sub_attribute_names_match_in_any_case(self) -> None:
        result = patch_user(
            ANN,
            {"op": "Add", "path": 'EMAILS[TYPE eq "other"].Value', "value": "o@x.org"},
        )

        assert result.document["emails"][-1] == {"type": "other", "value": "o@x.org"}

    @pytest.mark.parametrize(
        ("path", "value"),
        [
            (MANAGER, "m-1"),
            (MANAGER, {"value": "m-1"}),
            (MANAGER, {"value": "m-1", "displayName": "Oskar"}),
            ("manager", [{"$ref": "../Users/m-1", "value": "m-1"}]),
            (f"{MANAGER}.value", "m-1"),
        ],
    )
    def test_manager_shapes_are_stored_as_an_object(
        self, path: str, value: object
    ) -> None:
        result = patch_user(ANN, {"op": "Add", "path": path, "value": value})

        stored = result.document[ENTERPRISE]["manager"]
        assert stored["value"] == "m-1"
        assert set(stored) <= {"value", "$ref"}

    @pytest.mark.parametrize(
        "operation",
        [
            {"op": "Remove", "path": MANAGER},
            {"op": "Replace", "path": MANAGER, "value": ""},
            {"op": "Replace", "path": MANAGER, "value": None},
            {"op": "Replace", "path": MANAGER, "value": {"value": ""}},
            {"op": "Add", "path": MANAGER, "value": ""},
            {"op": "Replace", "path": f"{MANAGER}.value", "value": ""},
            {"op": "Remove", "path": f'{MANAGER}[value eq "m-1"]'},
            {"op": "remove", "path": 'manager[value eq "m-1"]'},
        ],
    )
    def test_manager_is_cleared(self, operation: dict[str, Any]) -> None:
        document = edited(ANN, {ENTERPRISE: {"manager": {"value": "m-1"}}})

        result = patch_user(document, operation)

        assert result.document == edited(ANN, {"schemas": [USER], ENTERPRISE: None})

    def test_manager_filter_for_another_manager_changes_nothing(self) -> None:
        document = edited(ANN, {ENTERPRISE: {"manager": {"value": "m-1"}}})

        result = patch_user(
            document, {"op": "Remove", "path": f'{MANAGER}[value eq "m-2"]'}
        )

        assert result == PatchResult(document, None, False)

    def test_roles_sent_as_json_strings_are_read_as_role_objects(self) -> None:
        encoded = '{"id":"r-1","value":"Admin","displayName":"Administrator"}'

        result = patch_user(
            ANN, {"op": "Add", "path": "roles", "value": [{"value": encoded}]}
        )

        assert result.document["roles"] == [
            {"value": "Admin", "display": "Administrator"}
        ]

    def test_a_single_role_object_with_a_json_string_is_decoded(self) -> None:
        encoded = '{"value":"Reader","type":"app","primary":true}'

        result = patch_user(
            ANN, {"op": "replace", "path": "roles", "value": {"value": encoded}}
        )

        assert result.document["roles"] == [
            {"value": "Reader", "type": "app", "primary": True}
        ]

    @pytest.mark.parametrize("value", ["{not json", "Reader", '["a"]', '{"id": "r-1"}'])
    def test_role_values_that_encode_no_role_are_kept(self, value: str) -> None:
        result = patch_user(
            ANN, {"op": "replace", "path": "roles", "value": [{"value": value}]}
        )

        assert result.document["roles"] == [{"value": value}]

    def test_roles_that_are_not_objects_are_invalid_value(self) -> None:
        with pytest.raises(InvalidValue) as caught:
            patch_user(ANN, {"op": "add", "path": "roles", "value": "Admin"})

        assert caught.value.detail == 'attribute "roles" must be a list, not a string'

    @pytest.mark.parametrize(
        ("path", "token"),
        [
            ('title[value eq "x"]', '"title'),
            ('manager[nosuch eq "x"]', "nosuch"),
            ('manager[value eq "x"].nosuch', "nosuch"),
            ('emails[type eq "work"', "emails"),
        ],
    )
    def test_bad_filters_on_single_valued_attributes_are_invalid_path(
        self, path: str, token: str
    ) -> None:
        with pytest.raises(InvalidPath) as caught:
            patch_user(ANN, {"op": "remove", "path": path})

        assert token in caught.value.detail

    def test_password_is_accepted_and_never_stored(self) -> None:
        result = patch_user(
            ANN,
            {"op": "replace", "path": "password", "value": "s3cret"},
            {"op": "replace", "value": {"password": "s3cret"}},
        )

        assert result == PatchResult(ANN, None, False)


@dataclass(frozen=True)
class Scenario:
    """One PATCH request from the shared replay files, and what it must give."""

    name: str
    operations: list[dict[str, Any]]
    document: dict[str, Any] = field(default_factory=lambda: ANN)
    expected: dict[str, Any] | type[ScimError] | None = None
    members: MemberChanges | None = None


def _scenario_user() -> dict[str, Any]:
    return {
        "schemas": [USER, ENTERPRISE],
        "userName": "m.quenby@corp.example.com",
        "active": True,
        "title": "Analyst",
        "name": {"familyName": "Quenby", "givenName": "Marisol"},
        "emails": [{"primary": True, "type": "work", "value": "m@corp.example.com"}],
        ENTERPRISE: {"employeeNumber": "E-31000"},
    }


QUENBY = _scenario_user()

SCENARIOS = [
    Scenario(
        "entra 02: filtered email and family name",
        [
            {
                "op": "Replace",
                "path": 'emails[type eq "work"].value',
                "value": "q@x.com",
            },
            {"op": "Replace", "path": "name.familyName", "value": "Quenby-Hale"},
        ],
        QUENBY,
        edited(
            QUENBY,
            {
                "emails": [{"primary": True, "type": "work", "value": "q@x.com"}],
                "name": {"familyName": "Quenby-Hale", "givenName": "Marisol"},
            },
        ),
    ),
    Scenario(
        "entra 02 / B27: rename userName",
        [{"op": "Replace", "path": "userName", "value": "B27.ANN@EXAMPLE.COM"}],
        QUENBY,
        edited(QUENBY, {"userName": "B27.ANN@EXAMPLE.COM"}),
    ),
    Scenario(
        "entra 02: disable with the string False",
        [{"op": "Replace", "path": "active", "value": "False"}],
        QUENBY,
        edited(QUENBY, {"active": False}),
    ),
    Scenario(
        "entra 04: flag dialect",
        [
            {
                "op": "replace",
                "path": 'emails[type eq "work"].value',
                "value": "j@x.com",
            },
            {
                "op": "replace",
                "value": {
                    "displayName": "Juniper Falk",
                    "name.givenName": "Juniper",
                    "name.familyName": "Falk",
                    f"{ENTERPRISE}:employeeNumber": "E-31077",
                },
            },
        ],
        QUENBY,
        edited(
            QUENBY,
            {
                "displayName": "Juniper Falk",
                "name": {"familyName": "Falk", "givenName": "Juniper"},
                "emails": [{"primary": True, "type": "work", "value": "j@x.com"}],
                ENTERPRISE: {"employeeNumber": "E-31077"},
            },
        ),
    ),
    Scenario(
        "entra 04: add on filtered paths that do not exist yet",
        [
            {
                "op": "Add",
                "path": 'phoneNumbers[type eq "mobile"].value',
                "value": "+1",
            },
            {
                "op": "Add",
                "path": 'addresses[type eq "work"].streetAddress',
                "value": "7",
            },
            {"op": "Add", "path": 'addresses[type eq "work"].locality', "value": "F"},
            {
                "op": "Add",
                "path": 'addresses[type eq "work"].postalCode',
                "value": "98",
            },
        ],
        QUENBY,
        edited(
            QUENBY,
            {
                "phoneNumbers": [{"type": "mobile", "value": "+1"}],
                "addresses": [
                    {
                        "type": "work",
                        "streetAddress": "7",
                        "locality": "F",
                        "postalCode": "98",
                    }
                ],
            },
        ),
    ),
    Scenario(
        "entra 04: add on attributes that already have a value",
        [
            {"op": "Add", "path": "title", "value": "Senior Analyst"},
            {"op": "Add", "path": f"{ENTERPRISE}:department", "value": "Risk"},
        ],
        QUENBY,
        edited(
            QUENBY,
            {
                "title": "Senior Analyst",
                ENTERPRISE: {"employeeNumber": "E-31000", "department": "Risk"},
            },
        ),
    ),
    Scenario(
        "entra 04: manager as a bare id",
        [{"op": "Add", "path": MANAGER, "value": "mgr-1"}],
        QUENBY,
        edited(
            QUENBY,
            {ENTERPRISE: {"employeeNumber": "E-31000", "manager": {"value": "mgr-1"}}},
        ),
    ),
    Scenario(
        "okta 01 / B22: path-less deactivation",
        [{"op": "replace", "value": {"active": False}}],
        QUENBY,
        edited(QUENBY, {"active": False}),
    ),
    Scenario("B22: remove without a path", [{"op": "remove"}], expected=NoTarget),
    Scenario(
        "B19: unknown dotted key",
        [{"op": "replace", "value": {"displayName": "Wrong", "name.nosuchPart": "x"}}],
        expected=InvalidPath,
    ),
    Scenario(
        "B20: replace through an unmatched filter",
        [
            {
                "op": "replace",
                "path": 'phoneNumbers[type eq "mobile"].value',
                "value": "1",
            }
        ],
        expected=NoTarget,
    ),
    Scenario(
        "B21: capitalised op on a sub-attribute",
        [{"op": "Replace", "path": "name.familyName", "value": "Lee-Park"}],
        expected=edited(ANN, {"name": {"givenName": "Ann", "familyName": "Lee-Park"}}),
    ),
    Scenario(
        "B24: add with the extension URN as path",
        [
            {
                "op": "add",
                "path": ENTERPRISE,
                "value": {"employeeNumber": "9", "department": "R&D"},
            }
        ],
        {"schemas": [USER], "userName": "ann"},
        {
            "schemas": [USER, ENTERPRISE],
            "userName": "ann",
            ENTERPRISE: {"employeeNumber": "9", "department": "R&D"},
        },
    ),
    Scenario(
        "B25: add a second email marked primary",
        [
            {
                "op": "add",
                "path": "emails",
                "value": [{"value": "b@x.com", "type": "work", "primary": True}],
            }
        ],
        {
            "schemas": [USER],
            "userName": "ann",
            "emails": [{"value": "a@x.com", "primary": True}],
        },
        {
            "schemas": [USER],
            "userName": "ann",
            "emails": [
                {"value": "a@x.com", "primary": False},
                {"value": "b@x.com", "type": "work", "primary": True},
            ],
        },
    ),
    Scenario(
        "entra 03: add two members with $ref null",
        [
            {
                "op": "Add",
                "path": "members",
                "value": [{"$ref": None, "value": "u1"}, {"$ref": None, "value": "u2"}],
            }
        ],
        LAB,
        LAB,
        MemberChanges(add=["u1", "u2"]),
    ),
    Scenario(
        "entra 03 / B16: remove members with a value list",
        [{"op": "Remove", "path": "members", "value": [{"value": "u1"}]}],
        LAB,
        LAB,
        MemberChanges(remove=["u1"]),
    ),
    Scenario(
        "B16: remove members with an object value",
        [{"op": "remove", "path": "members", "value": {"members": [{"value": "u2"}]}}],
        LAB,
        LAB,
        MemberChanges(remove=["u2"]),
    ),
    Scenario(
        "B16: remove members with an unreadable value",
        [{"op": "remove", "path": "members", "value": 42}],
        LAB,
        InvalidValue,
    ),
    Scenario(
        "entra 03: rename group",
        [{"op": "Replace", "path": "displayName", "value": "Lab Two"}],
        LAB,
        {"schemas": [GROUP], "displayName": "Lab Two"},
    ),
    Scenario(
        "okta 02: name sync carrying the group's own id",
        [{"op": "replace", "value": {"id": "g-1", "displayName": "Lab"}}],
        LAB,
        LAB,
    ),
    Scenario(
        "okta 02 / B14: remove by value filter plus add with display",
        [
            {"op": "remove", "path": 'members[value eq "t"]'},
            {
                "op": "add",
                "path": "members",
                "value": [{"value": "k", "display": "k@x"}],
            },
        ],
        LAB,
        LAB,
        MemberChanges(add=["k"], remove=["t"]),
    ),
    Scenario(
        "okta 02: full push",
        [
            {
                "op": "replace",
                "path": "members",
                "value": [
                    {"value": "t", "display": "t@x"},
                    {"value": "k", "display": "k@x"},
                ],
            }
        ],
        LAB,
        LAB,
        MemberChanges(replace=["t", "k"]),
    ),
    Scenario(
        "okta 02 / B17: push of an emptied group",
        [{"op": "replace", "path": "members", "value": []}],
        LAB,
        LAB,
        MemberChanges(replace=[]),
    ),
    Scenario(
        "authentik 03: one add operation per user",
        [
            {"op": "add", "path": "members", "value": [{"value": "u1"}]},
            {"op": "add", "path": "members", "value": [{"value": "u2"}]},
        ],
        LAB,
        LAB,
        MemberChanges(add=["u1", "u2"]),
    ),
    Scenario(
        "authentik 03: membership diff",
        [
            {"op": "add", "path": "members", "value": [{"value": "u3"}]},
            {"op": "remove", "path": "members", "value": [{"value": "u1"}]},
        ],
        LAB,
        LAB,
        MemberChanges(add=["u3"], remove=["u1"]),
    ),
    Scenario(
        "B35: validator-shaped add",
        [
            {
                "name": "addMember",
                "op": "add",
                "path": "members",
                "value": [{"displayName": "Cy Diaz", "value": "cy"}],
            }
        ],
        LAB,
        LAB,
        MemberChanges(add=["cy"]),
    ),
    Scenario(
        "B35: unknown attribute path",
        [{"op": "add", "path": "b35NoSuchAttribute", "value": "x"}],
        LAB,
        InvalidPath,
    ),
]


def run(scenario: Scenario) -> PatchResult:
    if scenario.document.get("schemas") == [GROUP]:
        return patch_group(*scenario.operations, document=scenario.document)
    return patch_user(scenario.document, *scenario.operations)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_shared_scenario_requests(scenario: Scenario) -> None:
    if isinstance(scenario.expected, type):
        with pytest.raises(scenario.expected):
            run(scenario)
        return

    result = run(scenario)

    assert result.document == scenario.expected
    assert result.member_changes == scenario.members
