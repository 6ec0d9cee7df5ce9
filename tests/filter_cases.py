"""One table of filter cases that every consumer of the filter AST must agree on.

The Python evaluator (tests/unit/filters) and every backend (tests/contract)
run the same cases against the same users, so the memory backend and the SQL
compilers give one answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

# SCIM User documents as stored (canonical attribute names, no id or meta).
USERS: list[dict[str, Any]] = [
    {
        "userName": "Ann.Lee@example.com",
        "displayName": "Ann Lee",
        "active": True,
        "name": {"givenName": "Ann", "familyName": "Lee"},
        "emails": [
            {"value": "ann@example.com", "type": "work", "primary": True},
            {"value": "ann@home.example.org", "type": "home"},
        ],
        "title": "Analyst",
        ENTERPRISE: {"department": "Finance", "employeeNumber": "701"},
    },
    {
        "userName": "bo.chen@example.com",
        "displayName": "Bo Chen",
        "active": False,
        "emails": [{"value": "bo@example.com", "type": "work"}],
        "title": "",
    },
    {
        "userName": "zoë.müller@example.com",
        "displayName": "Zoë Müller",
        "active": True,
        "emails": [],
    },
]


@dataclass(frozen=True)
class FilterCase:
    """A filter over `USERS` and the userNames it selects, or its error."""

    filter: str
    expected: frozenset[str] = frozenset()
    error: bool = False


def case(filter: str, *user_names: str) -> FilterCase:
    return FilterCase(filter, frozenset(user_names))


def invalid(filter: str) -> FilterCase:
    return FilterCase(filter, error=True)


ANN = "Ann.Lee@example.com"
BO = "bo.chen@example.com"
ZOE = "zoë.müller@example.com"

CASES: list[FilterCase] = [
    case('userName eq "ann.lee@EXAMPLE.com"', ANN),
    case('USERNAME EQ "bo.chen@example.com"', BO),
    case("active eq true", ANN, ZOE),
    case("not(active eq true)", BO),
    case('emails[type eq "work" and value co "@example.com"]', ANN, BO),
    case('emails.value sw "ann@"', ANN),
    case("title pr", ANN),
    case("emails pr", ANN, BO),
    case('displayName eq "Zoë Müller"', ZOE),
    case(f'{ENTERPRISE}:department eq "Finance"', ANN),
    case(
        'userName eq "x" or userName eq "bo.chen@example.com" or active eq true',
        ANN,
        BO,
        ZOE,
    ),
    invalid("active gt true"),
    invalid('userName eq "unclosed'),
    invalid('nosuch eq "x"'),
]
