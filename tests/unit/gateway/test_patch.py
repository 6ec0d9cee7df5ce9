"""The PATCH engine: RFC 7644 §3.5.2 semantics on stored documents and members."""

from __future__ import annotations

import copy
import logging
from typing import Any

import pytest

import scim_gateway.patch
from scim_gateway.backends.base import Member
from scim_gateway.errors import InvalidPath, InvalidValue, Mutability, NoTarget
from scim_gateway.patch import MemberChanges, MembersRequired, PatchResult
from scim_gateway.schemas import USER
from tests.unit.gateway.patching import (
    ANN,
    ENTERPRISE,
    LAB,
    edited,
    patch_group,
    patch_user,
)

WORK = {"value": "ann@example.com", "type": "work", "primary": True}
HOME = {"value": "ann@home.example.org", "type": "home"}


def unchanged(document: dict[str, Any]) -> PatchResult:
    return PatchResult(document, None, False)


class TestAdd:
    def test_add_on_a_single_valued_attribute_replaces_it(self) -> None:
        result = patch_user(
            ANN, {"op": "add", "path": "displayName", "value": "A. Lee"}
        )

        assert result == PatchResult(edited(ANN, {"displayName": "A. Lee"}), None, True)

    def test_add_on_a_complex_attribute_keeps_sub_attributes_not_given(self) -> None:
        result = patch_user(
            ANN, {"op": "add", "path": "name", "value": {"middleName": "Q"}}
        )

        name = {"givenName": "Ann", "familyName": "Lee", "middleName": "Q"}
        assert result.document == edited(ANN, {"name": name})

    def test_add_to_a_multi_valued_attribute_appends(self) -> None:
        other = {"value": "a@other.example.org", "type": "other"}

        result = patch_user(ANN, {"op": "add", "path": "emails", "value": [other]})

        assert result.document == edited(ANN, {"emails": [WORK, HOME, other]})

    def test_add_of_a_value_already_present_changes_nothing(self) -> None:
        result = patch_user(ANN, {"op": "add", "path": "emails", "value": [HOME]})

        assert result == unchanged(ANN)

    def test_add_of_a_primary_value_clears_the_other_primary(self) -> None:
        new = {"value": "b@example.com", "type": "work", "primary": True}

        result = patch_user(ANN, {"op": "add", "path": "emails", "value": [new]})

        emails = [{**WORK, "primary": False}, HOME, new]
        assert result.document == edited(ANN, {"emails": emails})

    def test_add_of_two_primary_values_is_invalid_value(self) -> None:
        values = [
            {"value": "b@x.org", "primary": True},
            {"value": "c@x.org", "primary": True},
        ]

        with pytest.raises(InvalidValue) as caught:
            patch_user(ANN, {"op": "add", "path": "emails", "value": values})

        assert (
            caught.value.detail == 'attribute "emails" has more than one primary value'
        )

    def test_add_through_an_unmatched_filter_creates_the_element(self) -> None:
        document = {"schemas": [USER], "userName": "ann"}

        result = patch_user(
            document,
            {"op": "Add", "path": 'emails[type eq "work"].value', "value": "a@x.org"},
            {"op": "Add", "path": "name.givenName", "value": "Ann"},
        )

        assert result.document == {
            "schemas": [USER],
            "userName": "ann",
            "emails": [{"type": "work", "value": "a@x.org"}],
            "name": {"givenName": "Ann"},
        }

    def test_several_sub_attributes_through_one_filter_land_in_one_element(
        self,
    ) -> None:
        result = patch_user(
            ANN,
            {
                "op": "Add",
                "path": 'addresses[type eq "work"].streetAddress',
                "value": "7 Row",
            },
            {
                "op": "Add",
                "path": 'addresses[type eq "work"].locality',
                "value": "Fairhaven",
            },
        )

        address = {"type": "work", "streetAddress": "7 Row", "locality": "Fairhaven"}
        assert result.document == edited(ANN, {"addresses": [address]})

    def test_add_through_a_matched_filter_sets_the_sub_attribute(self) -> None:
        result = patch_user(
            ANN,
            {"op": "add", "path": 'emails[type eq "home"].display', "value": "Home"},
        )

        assert result.document == edited(
            ANN, {"emails": [WORK, {**HOME, "display": "Home"}]}
        )

    def test_add_through_a_filter_without_equalities_is_no_target(self) -> None:
        with pytest.raises(NoTarget) as caught:
            patch_user(
                ANN, {"op": "add", "path": 'emails[type sw "x"].value', "value": "x"}
            )

        assert '"emails[type sw "x"].value"' in caught.value.detail

    def test_add_with_a_null_value_changes_nothing(self) -> None:
        result = patch_user(ANN, {"op": "add", "path": "title", "value": None})

        assert result == unchanged(ANN)

    def test_add_of_an_extension_attribute_creates_the_extension(self) -> None:
        document = {"schemas": [USER], "userName": "ann"}

        result = patch_user(
            document, {"op": "add", "path": f"{ENTERPRISE}:department", "value": "Risk"}
        )

        assert result.document == {
            "schemas": [USER, ENTERPRISE],
            "userName": "ann",
            ENTERPRISE: {"department": "Risk"},
        }


class TestReplace:
    def test_replace_through_a_filter_changes_the_matched_sub_attribute(self) -> None:
        result = patch_user(
            ANN,
            {
                "op": "Replace",
                "path": 'emails[type eq "work"].value',
                "value": "m@x.org",
            },
        )

        assert result.document == edited(
            ANN, {"emails": [{**WORK, "value": "m@x.org"}, HOME]}
        )

    def test_replace_through_an_unmatched_filter_is_no_target_and_changes_nothing(
        self,
    ) -> None:
        before = copy.deepcopy(ANN)

        with pytest.raises(NoTarget) as caught:
            patch_user(
                ANN,
                {"op": "replace", "path": "title", "value": "Pilot"},
                {
                    "op": "replace",
                    "path": 'phoneNumbers[type eq "mobile"].value',
                    "value": "1",
                },
            )

        assert caught.value.detail == (
            'no value matches the filter in path "phoneNumbers[type eq "mobile"].value"'
        )
        assert ANN == before

    def test_replace_through_an_unmatched_filter_upserts_when_asked(self) -> None:
        result = patch_user(
            ANN,
            {
                "op": "replace",
                "path": 'phoneNumbers[type eq "mobile"].value',
                "value": "1",
            },
            upsert_on_replace=True,
        )

        assert result.document == edited(
            ANN, {"phoneNumbers": [{"type": "mobile", "value": "1"}]}
        )

    def test_replace_of_a_filtered_element_swaps_it_in_place(self) -> None:
        document = edited(
            ANN,
            {
                "addresses": [
                    {"type": "work", "locality": "Berlin"},
                    {"type": "home", "locality": "Bonn"},
                ]
            },
        )

        result = patch_user(
            document,
            {
                "op": "replace",
                "path": 'addresses[type eq "work"]',
                "value": {"type": "work", "locality": "Hamburg"},
            },
        )

        addresses = [
            {"type": "work", "locality": "Hamburg"},
            {"type": "home", "locality": "Bonn"},
        ]
        assert result.document == edited(ANN, {"addresses": addresses})

    def test_replace_of_a_multi_valued_attribute_replaces_every_value(self) -> None:
        new = {"value": "z@x.org"}

        result = patch_user(ANN, {"op": "replace", "path": "emails", "value": [new]})

        assert result.document == edited(ANN, {"emails": [new]})

    def test_replace_of_a_complex_attribute_keeps_sub_attributes_not_given(
        self,
    ) -> None:
        result = patch_user(
            ANN, {"op": "replace", "path": "name", "value": {"familyName": "Park"}}
        )

        assert result.document == edited(
            ANN, {"name": {"givenName": "Ann", "familyName": "Park"}}
        )

    def test_replace_with_null_removes_the_attribute(self) -> None:
        result = patch_user(
            ANN, {"op": "replace", "path": "displayName", "value": None}
        )

        assert result.document == edited(ANN, {"displayName": None})

    def test_replace_making_a_value_primary_clears_the_other_primary(self) -> None:
        result = patch_user(
            ANN,
            {"op": "replace", "path": 'emails[type eq "home"].primary', "value": True},
        )

        emails = [{**WORK, "primary": False}, {**HOME, "primary": True}]
        assert result.document == edited(ANN, {"emails": emails})

    def test_replace_of_a_reference_with_another_value_drops_the_old_ref(self) -> None:
        manager = {"value": "m-1", "$ref": "../Users/m-1"}
        document = edited(ANN, {ENTERPRISE: {"manager": manager}})

        result = patch_user(
            document, {"op": "replace", "path": f"{ENTERPRISE}:manager", "value": "m-2"}
        )

        assert result.document == edited(
            ANN, {ENTERPRISE: {"manager": {"value": "m-2"}}}
        )

    def test_replace_with_the_current_value_is_unchanged(self) -> None:
        result = patch_user(
            ANN,
            {"op": "replace", "path": "displayName", "value": "Ann Lee"},
            {"op": "replace", "path": "active", "value": "True"},
        )

        assert result == unchanged(ANN)


class TestSubAttributeOfEveryValue:
    """`emails.type` without a filter addresses the sub-attribute of every value."""

    def test_replace_sets_it_on_every_value(self) -> None:
        result = patch_user(
            ANN, {"op": "replace", "path": "emails.type", "value": "other"}
        )

        emails = [{**WORK, "type": "other"}, {**HOME, "type": "other"}]
        assert result.document == edited(ANN, {"emails": emails})

    def test_add_without_values_creates_one(self) -> None:
        document = {"schemas": [USER], "userName": "ann"}

        result = patch_user(
            document, {"op": "add", "path": "emails.value", "value": "a@x"}
        )

        assert result.document == {**document, "emails": [{"value": "a@x"}]}

    def test_remove_drops_it_and_values_left_empty(self) -> None:
        document = edited(
            ANN, {"emails": [{"value": "a@x", "type": "work"}, {"type": "home"}]}
        )

        result = patch_user(document, {"op": "remove", "path": "emails.type"})

        assert result.document == edited(ANN, {"emails": [{"value": "a@x"}]})

    def test_making_every_value_primary_is_invalid_value(self) -> None:
        with pytest.raises(InvalidValue) as caught:
            patch_user(ANN, {"op": "replace", "path": "emails.primary", "value": True})

        assert (
            caught.value.detail
            == 'path "emails.primary" would make several values primary'
        )


class TestFilters:
    def test_add_through_an_unmatched_conjunction_creates_every_term(self) -> None:
        result = patch_user(
            ANN,
            {
                "op": "add",
                "path": 'phoneNumbers[type eq "work" and primary eq true].value',
                "value": "+1 555 0100",
            },
        )

        phone = {"type": "work", "primary": True, "value": "+1 555 0100"}
        assert result.document == edited(ANN, {"phoneNumbers": [phone]})

    @pytest.mark.parametrize(
        "path",
        [
            'phoneNumbers[type eq "a" and type eq "b"].value',
            'phoneNumbers[type eq "a" or type eq "b"].value',
            'phoneNumbers[not (type eq "a")].value',
        ],
    )
    def test_add_through_an_unmatched_filter_it_cannot_build_from_is_no_target(
        self, path: str
    ) -> None:
        with pytest.raises(NoTarget):
            patch_user(ANN, {"op": "add", "path": path, "value": "1"})

    def test_add_of_an_object_through_a_filter_merges_it_into_the_match(self) -> None:
        result = patch_user(
            ANN,
            {
                "op": "add",
                "path": 'emails[type eq "home"]',
                "value": [{"display": "H"}],
            },
        )

        assert result.document == edited(
            ANN, {"emails": [WORK, {**HOME, "display": "H"}]}
        )

    def test_replace_making_two_values_equal_keeps_one(self) -> None:
        work, home = {"value": "a@x", "type": "work"}, {"value": "b@x", "type": "home"}
        document = edited(ANN, {"emails": [work, home]})

        result = patch_user(
            document, {"op": "replace", "path": 'emails[type eq "home"]', "value": work}
        )

        assert result.document == edited(ANN, {"emails": [work]})

    def test_filter_on_a_single_valued_complex_attribute_sets_its_sub(self) -> None:
        document = edited(ANN, {ENTERPRISE: {"manager": {"value": "m-1"}}})

        result = patch_user(
            document,
            {
                "op": "replace",
                "path": f'{ENTERPRISE}:manager[value eq "m-1"].$ref',
                "value": "../Users/m-1",
            },
        )

        manager = {"value": "m-1", "$ref": "../Users/m-1"}
        assert result.document == edited(ANN, {ENTERPRISE: {"manager": manager}})


class TestRemove:
    def test_remove_of_a_single_valued_attribute(self) -> None:
        result = patch_user(ANN, {"op": "remove", "path": "displayName"})

        assert result == PatchResult(edited(ANN, {"displayName": None}), None, True)

    def test_remove_of_the_last_sub_attribute_removes_the_complex_attribute(
        self,
    ) -> None:
        result = patch_user(
            ANN,
            {"op": "remove", "path": "name.givenName"},
            {"op": "remove", "path": "name.familyName"},
        )

        assert result.document == edited(ANN, {"name": None})

    def test_remove_through_a_filter_removes_only_the_matched_values(self) -> None:
        result = patch_user(ANN, {"op": "remove", "path": 'emails[type eq "work"]'})

        assert result.document == edited(ANN, {"emails": [HOME]})

    def test_remove_of_a_filtered_sub_attribute(self) -> None:
        result = patch_user(
            ANN, {"op": "remove", "path": 'emails[type eq "work"].primary'}
        )

        assert result.document == edited(
            ANN, {"emails": [{"value": "ann@example.com", "type": "work"}, HOME]}
        )

    def test_remove_with_a_value_removes_the_values_it_describes(self) -> None:
        result = patch_user(
            ANN,
            {"op": "remove", "path": "emails", "value": [{"value": "ann@example.com"}]},
        )

        assert result.document == edited(ANN, {"emails": [HOME]})

    @pytest.mark.parametrize(
        "path",
        ['emails[type eq "other"]', "title", "addresses", 'emails[type eq "x"].value'],
    )
    def test_remove_of_something_absent_succeeds_unchanged(self, path: str) -> None:
        result = patch_user(ANN, {"op": "remove", "path": path})

        assert result == unchanged(ANN)

    def test_remove_without_a_path_is_no_target(self) -> None:
        with pytest.raises(NoTarget) as caught:
            patch_user(ANN, {"op": "remove"})

        assert caught.value.detail == "a remove operation needs a path"

    def test_remove_of_the_extension_urn_drops_the_extension(self) -> None:
        result = patch_user(ANN, {"op": "remove", "path": ENTERPRISE})

        assert result.document == edited(ANN, {"schemas": [USER], ENTERPRISE: None})

    def test_remove_of_a_required_attribute_is_invalid_value(self) -> None:
        with pytest.raises(InvalidValue) as caught:
            patch_user(ANN, {"op": "remove", "path": "userName"})

        assert caught.value.detail == 'attribute "userName" is required'


class TestMembers:
    def test_add_with_ref_null_needs_no_member_list(self) -> None:
        result = patch_group(
            {
                "op": "Add",
                "path": "members",
                "value": [{"$ref": None, "value": "u1"}, {"$ref": None, "value": "u2"}],
            }
        )

        assert result == PatchResult(LAB, MemberChanges(add=["u1", "u2"]), True)

    @pytest.mark.parametrize(
        "value", [[{"value": "u1"}], {"members": [{"value": "u1"}]}, {"value": "u1"}]
    )
    def test_remove_with_a_value_removes_only_those_members(
        self, value: object
    ) -> None:
        result = patch_group({"op": "Remove", "path": "members", "value": value})

        assert result.member_changes == MemberChanges(remove=["u1"])

    def test_remove_by_value_filter_needs_no_member_list(self) -> None:
        result = patch_group({"op": "remove", "path": 'members[value eq "u1"]'})

        assert result.member_changes == MemberChanges(remove=["u1"])

    def test_remove_by_several_value_equalities(self) -> None:
        result = patch_group(
            {"op": "remove", "path": 'members[value eq "u1" or value eq "u2"]'}
        )

        assert result.member_changes == MemberChanges(remove=["u1", "u2"])

    def test_remove_without_a_value_removes_every_member(self) -> None:
        result = patch_group({"op": "remove", "path": "members"})

        assert result.member_changes == MemberChanges(replace=[])

    def test_replace_with_an_empty_list_empties_the_group(self) -> None:
        result = patch_group({"op": "replace", "path": "members", "value": []})

        assert result.member_changes == MemberChanges(replace=[])

    @pytest.mark.parametrize(
        ("operations", "expected"),
        [
            (
                [("add", ["u1"]), ("remove", ["u1"])],
                MemberChanges(remove=["u1"]),
            ),
            (
                [("remove", ["u1"]), ("add", ["u1", "u2"])],
                MemberChanges(add=["u1", "u2"]),
            ),
            (
                [("replace", ["u1"]), ("add", ["u2"]), ("remove", ["u1"])],
                MemberChanges(replace=["u2"]),
            ),
            (
                [("add", ["u3"]), ("replace", ["u1"])],
                MemberChanges(replace=["u1"]),
            ),
        ],
    )
    def test_member_operations_fold_in_request_order(
        self, operations: list[tuple[str, list[str]]], expected: MemberChanges
    ) -> None:
        result = patch_group(
            *(
                {"op": op, "path": "members", "value": [{"value": i} for i in ids]}
                for op, ids in operations
            )
        )

        assert result.member_changes == expected

    def test_filter_on_other_member_attributes_needs_the_member_list(self) -> None:
        with pytest.raises(MembersRequired):
            patch_group({"op": "remove", "path": 'members[type eq "Group"]'})

    def test_filter_on_other_member_attributes_uses_the_member_list(self) -> None:
        members = [Member("u1"), Member("g1", type="Group"), Member("u2")]

        result = patch_group(
            {"op": "remove", "path": 'members[type eq "User"]'},
            {"op": "add", "path": "members", "value": [{"value": "g2"}]},
            members=members,
        )

        assert result == PatchResult(
            LAB, MemberChanges(add=["g2"], remove=["u1", "u2"]), True
        )

    def test_filter_on_display_matches_the_member_display(self) -> None:
        members = [Member("u1", display="Ann"), Member("u2", display="Bo")]

        result = patch_group(
            {"op": "remove", "path": 'members[display eq "bo"]'}, members=members
        )

        assert result.member_changes == MemberChanges(remove=["u2"])

    def test_adding_present_members_with_the_list_known_changes_nothing(self) -> None:
        result = patch_group(
            {"op": "add", "path": "members", "value": [{"value": "u1"}]},
            {"op": "remove", "path": 'members[value eq "u9"]'},
            members=[Member("u1")],
        )

        assert result == unchanged(LAB)

    def test_path_less_replace_with_the_group_id_renames_and_keeps_members(
        self,
    ) -> None:
        result = patch_group(
            {"op": "replace", "value": {"id": "g-7", "displayName": "Lab Two"}}
        )

        assert result == PatchResult(
            edited(LAB, {"displayName": "Lab Two"}), None, True
        )

    @pytest.mark.parametrize(
        ("operation", "detail"),
        [
            (
                {
                    "op": "replace",
                    "path": 'members[value eq "u1"]',
                    "value": {"value": "u2"},
                },
                'path "members[value eq "u1"]" would change members in place; '
                "add or remove members instead",
            ),
            (
                {"op": "replace", "path": "members.value", "value": "u2"},
                'path "members.value" would change members in place; '
                "add or remove members instead",
            ),
            (
                {"op": "add", "path": "members.display", "value": "x"},
                'attribute "members.display" is readOnly',
            ),
        ],
    )
    def test_changing_a_member_in_place_is_mutability(
        self, operation: dict[str, Any], detail: str
    ) -> None:
        with pytest.raises(Mutability) as caught:
            patch_group(operation)

        assert caught.value.detail == detail

    @pytest.mark.parametrize("value", [42, "u1", [{"display": "x"}], [{"value": 7}]])
    def test_unreadable_member_values_are_invalid_value(self, value: object) -> None:
        with pytest.raises(InvalidValue) as caught:
            patch_group({"op": "add", "path": "members", "value": value})

        assert "members" in caught.value.detail


class TestErrors:
    @pytest.mark.parametrize(
        ("path", "token"),
        [
            ("b35NoSuchAttribute", '"b35NoSuchAttribute"'),
            ("name.nosuchPart", '"name.nosuchPart"'),
            ('emails[type eq "work"].nosuch', "nosuch"),
            ('emails[type eq "work"', '"emails[type eq "work""'),
            (f"{ENTERPRISE}:badge", "badge"),
        ],
    )
    def test_unknown_or_malformed_paths_are_invalid_path(
        self, path: str, token: str
    ) -> None:
        with pytest.raises(InvalidPath) as caught:
            patch_user(ANN, {"op": "add", "path": path, "value": "x"})

        assert token in caught.value.detail

    @pytest.mark.parametrize(
        "path",
        ["id", "meta", "meta.created", "groups", f"{ENTERPRISE}:manager.displayName"],
    )
    def test_read_only_paths_are_mutability(self, path: str) -> None:
        with pytest.raises(Mutability) as caught:
            patch_user(ANN, {"op": "replace", "path": path, "value": "x"})

        assert caught.value.detail == f'attribute "{path}" is readOnly'

    @pytest.mark.parametrize(
        ("operation", "detail"),
        [
            (
                {"op": "replace", "path": "active", "value": "maybe"},
                'attribute "active" must be a boolean, not a string',
            ),
            (
                {"op": "replace", "path": "name", "value": "Ann"},
                'attribute "name" must be an object, not a string',
            ),
            (
                {"op": "replace", "path": "name.givenName", "value": 3},
                'attribute "name.givenName" must be a string, not a number',
            ),
            (
                {"op": "replace", "value": "Ann"},
                '"replace" without a path needs an object, not a string',
            ),
            (
                {"op": "replace", "path": 'emails[type eq "work"]', "value": "x"},
                'path "emails[type eq "work"]" needs an object value',
            ),
        ],
    )
    def test_bad_values_are_invalid_value(
        self, operation: dict[str, Any], detail: str
    ) -> None:
        with pytest.raises(InvalidValue) as caught:
            patch_user(ANN, operation)

        assert caught.value.detail == detail

    def test_a_failing_operation_leaves_the_document_untouched(self) -> None:
        before = copy.deepcopy(ANN)

        with pytest.raises(InvalidValue):
            patch_user(
                ANN,
                {"op": "replace", "path": "name.givenName", "value": "Annie"},
                {
                    "op": "add",
                    "path": "emails",
                    "value": [{"value": "x", "primary": True}],
                },
                {"op": "replace", "path": "active", "value": "maybe"},
            )

        assert ANN == before


class TestResult:
    def test_paths_are_logged_at_debug_only(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG, logger="scim_gateway.patch")

        patch_user(ANN, {"op": "replace", "path": "title", "value": "Pilot"})

        assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
            (logging.DEBUG, "patch.step op=replace path=title")
        ]

    def test_empty_operations_change_nothing(self) -> None:
        assert patch_user(ANN) == unchanged(ANN)

    def test_the_result_is_normalised_like_a_post(self) -> None:
        stored = {"userName": "ann", "schemas": [USER, ENTERPRISE]}

        result = patch_user(stored, {"op": "add", "path": "title", "value": "Pilot"})

        assert result.document == {
            "schemas": [USER],
            "userName": "ann",
            "title": "Pilot",
        }


def test_public_names_are_pinned() -> None:
    assert sorted(scim_gateway.patch.__all__) == [
        "MemberChanges",
        "MembersRequired",
        "Op",
        "PatchOperation",
        "PatchResult",
        "apply_patch",
        "member_changes_only",
        "parse_patch_request",
    ]
