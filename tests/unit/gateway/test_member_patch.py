"""`member_changes_only`: which PATCH requests need no read of the group."""

from __future__ import annotations

from typing import Any

import pytest

from scim_gateway.patch import MemberChanges, member_changes_only, parse_patch_request
from tests.unit.gateway.patching import GROUPS, REGISTRY, USERS, body, patch_group


def only(*operations: dict[str, Any]) -> MemberChanges | None:
    parsed = parse_patch_request(body(*operations))
    return member_changes_only(REGISTRY, GROUPS, parsed)


def add(*ids: str) -> dict[str, Any]:
    return {"op": "add", "path": "members", "value": [{"value": i} for i in ids]}


class TestMemberChangesOnly:
    def test_adds_and_removes_by_id_fold_as_the_engine_folds_them(self) -> None:
        operations = (
            add("a", "b"),
            {"op": "remove", "path": 'members[value eq "b"]'},
            {"op": "Remove", "path": "members", "value": [{"value": "c"}]},
        )

        changes = only(*operations)

        assert changes == MemberChanges(add=["a"], remove=["b", "c"])
        assert changes == patch_group(*operations).member_changes

    def test_a_path_less_add_of_members_counts(self) -> None:
        changes = only({"op": "add", "value": {"members": [{"value": "a"}]}})

        assert changes == MemberChanges(add=["a"])

    @pytest.mark.parametrize(
        "operation",
        [
            {"op": "replace", "path": "displayName", "value": "Lab 2"},
            {"op": "replace", "path": "members", "value": [{"value": "a"}]},
            {"op": "remove", "path": "members"},
            {"op": "remove", "path": 'members[display eq "Ann"]'},
            {"op": "add", "value": {"members": [{"value": "a"}], "displayName": "X"}},
        ],
        ids=["attribute", "replace", "remove-all", "display-filter", "mixed"],
    )
    def test_anything_more_than_adds_and_removes_by_id_is_none(
        self, operation: dict[str, Any]
    ) -> None:
        assert only(add("a"), operation) is None

    @pytest.mark.parametrize(
        "operation",
        [
            {"op": "add", "path": "members", "value": [{"display": "no value"}]},
            {"op": "add", "path": "members.value", "value": "a"},
            {"op": "add", "path": "nosuchattribute", "value": "a"},
        ],
        ids=["no-value", "sub-attribute", "unknown-path"],
    )
    def test_an_invalid_request_is_none_so_the_usual_order_reports_it(
        self, operation: dict[str, Any]
    ) -> None:
        assert only(operation) is None

    def test_no_member_operation_is_none(self) -> None:
        assert only() is None

    def test_a_user_patch_is_none(self) -> None:
        parsed = parse_patch_request(body(add("a")))

        assert member_changes_only(REGISTRY, USERS, parsed) is None
