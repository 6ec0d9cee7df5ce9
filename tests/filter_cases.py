"""One table of filter cases that every consumer of the filter AST must agree on.

The Python evaluator (tests/unit/filters) and every backend (tests/contract)
run the same cases against the same users, so the memory backend and the SQL
compilers give one answer.

How to run a case: store every document of `USERS` as a User (a backend adds
`id` and `meta`), parse `FilterCase.filter` with
`scim_gateway.filters.parser.parse_filter` and the User resolver
(`functools.partial(SchemaRegistry().resolve, USER_TYPE)`), and query. A
case with `error` must raise `FilterError` from the parser; any other must
select exactly the users whose `userName` is in `expected`.

`id` and `meta`: the table cannot fix them, since a store assigns them. Cases
on `meta` only assume that every user was created and modified after
2020-01-01 and before 2999-01-01; cases on `id` only use `pr`. Without a
store, `as_returned` gives a user an `id` and a `meta` that satisfy this.

The semantics every consumer must share (absent attributes, `ne`, `not`,
`pr` on empty values, case folding with `str.lower()`) are written down in
the docstring of `scim_gateway.filters.evaluator`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
CREATED = "2024-05-01T12:00:00Z"

# SCIM User documents as stored (canonical attribute names, no id or meta).
USERS: list[dict[str, Any]] = [
    {
        "schemas": [CORE, ENTERPRISE],
        "userName": "Ann.Lee@example.com",
        "externalId": "ANN-001",
        "displayName": "Ann Lee",
        "active": True,
        "name": {"givenName": "Ann", "familyName": "Lee"},
        "emails": [
            {"value": "ann@example.com", "type": "work", "primary": True},
            {"value": "ann@home.example.org", "type": "home"},
            # No type, a null value, no object: lookups by e-mail value must
            # tell these apart from the typed e-mails.
            {"value": "Ann.Lee@Example.COM"},
            {"type": "other", "value": None},
            "ann@plain.example",
        ],
        "title": "Analyst",
        ENTERPRISE: {"department": "Finance", "employeeNumber": "701"},
    },
    {
        "schemas": [CORE],
        "userName": "bo.chen@example.com",
        "externalId": "bo-002",
        "displayName": "Bo Chen",
        "active": False,
        "emails": [{"value": "bo@example.com", "type": "work"}],
        "title": "",
    },
    {
        "schemas": [CORE],
        "userName": "zoë.müller@example.com",
        "displayName": "Zoë Müller",
        "active": True,
        "emails": [],
    },
    {
        # No `active` and no `externalId`: absent attributes under ne and not.
        "schemas": [CORE, ENTERPRISE],
        "userName": "dee.oneil@example.org",
        "displayName": "Dee O'Neil",
        "nickName": 'say "and" or (eq) [x]',
        "title": "Engineer",
        "name": {"familyName": "O'Neil"},
        "emails": [{"value": "DEE@Example.ORG", "type": "work"}],
        "phoneNumbers": [{"value": "+1 555 0100", "type": "mobile"}],
        ENTERPRISE: {"department": "Engineering", "manager": {"value": "ann"}},
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


def as_returned(index: int, user: dict[str, Any]) -> dict[str, Any]:
    """`user` as a store returns it: with an `id` and a `meta`."""
    meta = {"resourceType": "User", "created": CREATED, "lastModified": CREATED}
    return {"id": f"user-{index}", "meta": meta, **user}


ANN = "Ann.Lee@example.com"
BO = "bo.chen@example.com"
ZOE = "zoë.müller@example.com"
DEE = "dee.oneil@example.org"
EVERYONE = (ANN, BO, ZOE, DEE)

CASES: list[FilterCase] = [
    # Comparison operators and case folding (caseExact false).
    case('userName eq "ann.lee@EXAMPLE.com"', ANN),
    case('USERNAME EQ "bo.chen@example.com"', BO),
    case('userName Eq "DEE.ONEIL@EXAMPLE.ORG"', DEE),
    case('userName co "CHEN"', BO),
    case('userName sw "ZOË"', ZOE),
    case('userName ew ".ORG"', DEE),
    case('displayName eq "Zoë Müller"', ZOE),
    case('displayName co "MÜLL"', ZOE),
    case('displayName eq "Zo\\u00eb M\\u00fcller"', ZOE),
    case('name.familyName eq "o\'neil"', DEE),
    case('name.givenName eq "ann"', ANN),
    # caseExact true: externalId.
    case('externalId eq "ANN-001"', ANN),
    case('externalId eq "ann-001"'),
    case('externalId sw "bo"', BO),
    case('externalId sw "BO"'),
    case("externalId pr", ANN, BO),
    # Ordering: strings by code point after lower(), dateTimes as instants.
    case('userName gt "c"', ZOE, DEE),
    case('userName lt "B"', ANN),
    case('userName ge "bo.chen@example.com"', BO, ZOE, DEE),
    case('userName le "BO.CHEN@example.com"', ANN, BO),
    case('displayName gt "Zo"', ZOE),
    case('meta.created gt "2020-01-01T00:00:00Z"', *EVERYONE),
    case('meta.created lt "2020-01-01T00:00:00Z"'),
    case('meta.lastModified ge "2020-01-01T02:00:00+02:00"', *EVERYONE),
    case('meta.lastModified le "2999-01-01T00:00:00Z"', *EVERYONE),
    case("meta.created pr", *EVERYONE),
    case("id pr", *EVERYONE),
    # Booleans.
    case("active eq true", ANN, ZOE),
    case("active eq false", BO),
    case("active ne true", BO, DEE),
    case("active pr", ANN, BO, ZOE),
    # Absent and empty values under pr, ne, not and null.
    case("title pr", ANN, DEE),
    case("not (title pr)", BO, ZOE),
    case('title eq ""', BO),
    case('title ne "Analyst"', BO, ZOE, DEE),
    case('not (title eq "Analyst")', BO, ZOE, DEE),
    case("not(active eq true)", BO, DEE),
    case("title eq null", BO, ZOE),
    case("title ne null", ANN, DEE),
    case("nickName pr", DEE),
    case("emails pr", ANN, BO, DEE),
    case("name pr", ANN, DEE),
    # Multi-valued attributes: any element matches; ne is not eq.
    case('emails.value sw "ann@"', ANN),
    case('emails.value eq "dee@example.org"', DEE),
    case('emails co "@home."', ANN),
    case('Emails.Value co "EXAMPLE.COM"', ANN, BO),
    case('emails.type eq "home"', ANN),
    case('emails.type ne "work"', ZOE),
    case("emails.primary eq true", ANN),
    case('phoneNumbers.value sw "+1 555"', DEE),
    # Value filters: one element satisfies the whole bracket.
    case('emails[type eq "work" and value co "@example.com"]', ANN, BO),
    case('emails[type eq "home"]', ANN),
    case('emails[type eq "home" and primary eq true]'),
    case('emails[not (type eq "work")]', ANN),
    case("emails[primary eq true]", ANN),
    case('emails[type eq "work"] and not (emails[primary eq true])', BO, DEE),
    case('Emails[Type EQ "work" and VALUE sw "bo@"]', BO),
    case('phoneNumbers[type eq "mobile" and value sw "+1"]', DEE),
    case('emails[type eq "work"].value ew "example.org"', DEE),
    # Lookups by e-mail value (the SQL backends' indexed shapes): any
    # element, folded (caseExact false), the other conditions on that
    # same element, and under not.
    case('emails[type eq "work"].value eq "ANN@example.COM"', ANN),
    case('emails[type eq "work"].value eq "ann@home.example.org"'),
    case('emails[type eq "home"].value eq "ann@home.example.org"', ANN),
    case('emails[type eq "work"].value eq "ann.lee@example.com"'),
    case('emails[value eq "ANN.LEE@EXAMPLE.COM"]', ANN),
    case('emails[value eq "ann.lee@example.com" and not (type pr)]', ANN),
    case('emails[primary eq true and value eq "ann@example.com"]', ANN),
    case('emails[value eq "ann@example.com" and type eq "home"]'),
    case('emails.value eq "BO@example.com"', BO),
    case('emails eq "dee@example.org"', DEE),
    case('emails.value eq "ann@plain.example"'),
    case('emails[type eq "other"].value eq ""'),
    case('emails[type eq "other" and value pr]'),
    case('emails[type eq "other"]', ANN),
    case('emails.value eq "nobody@example.com"'),
    case('not (emails.value eq "bo@example.com")', ANN, ZOE, DEE),
    case('emails.value ne "BO@EXAMPLE.COM"', ANN, ZOE, DEE),
    case('not (emails[type eq "work"].value eq "dee@example.org")', ANN, BO, ZOE),
    case(
        'emails.value eq "bo@example.com" or emails.value eq "DEE@example.org"', BO, DEE
    ),
    case('emails.value eq "bo@example.com" and active eq true'),
    case('emails[value eq "ann@example.com"] and userName sw "ann"', ANN),
    # schemas: a multi-valued string compared element by element.
    case(f'schemas eq "{ENTERPRISE}"', ANN, DEE),
    case(f'schemas eq "{CORE}"', *EVERYONE),
    case(f'schemas eq "{CORE.upper()}"', *EVERYONE),
    # Schema URNs, extension attributes and numbers written for strings.
    case(f'{ENTERPRISE}:department eq "Finance"', ANN),
    case(f'{ENTERPRISE.lower()}:department co "ENG"', DEE),
    case('department eq "Engineering"', DEE),
    case(f'{ENTERPRISE}:manager.value eq "ann"', DEE),
    case(f'{CORE}:userName sw "ann"', ANN),
    case(f"{ENTERPRISE}:employeeNumber eq 701", ANN),
    # Escapes, keyword-like values, parentheses and brackets inside strings.
    case('nickName eq "say \\"and\\" or (eq) [x]"', DEE),
    case('nickName co "\\u0022and\\u0022"', DEE),
    case('nickName co ") [x]"', DEE),
    case('displayName co "\'"', DEE),
    # Logical operators: precedence, grouping, letter case, chains.
    case(
        'userName eq "x" or userName eq "bo.chen@example.com" or active eq true',
        ANN,
        BO,
        ZOE,
    ),
    case('title eq "Analyst" or title eq "Engineer" and active eq true', ANN),
    case(
        '(title eq "Analyst" or title eq "Engineer") and not (active eq false)',
        ANN,
        DEE,
    ),
    case('userName sw "a" Or userName sw "b" oR userName sw "z"', ANN, BO, ZOE),
    case(
        'not(userName sw "a") AND NOT(userName sw "b") and not (userName sw "z")', DEE
    ),
    case('((userName eq "bo.chen@example.com"))', BO),
    case("active eq true and (title pr or emails pr)", ANN),
    # Errors: syntax, unknown names, operators that do not fit the type.
    invalid("active gt true"),
    invalid("active le false"),
    invalid('active co "t"'),
    invalid('active eq "yes"'),
    invalid("title eq true"),
    invalid('name eq "Ann"'),
    invalid('meta.created gt "yesterday"'),
    invalid('meta.created co "2020"'),
    invalid('userName eq "unclosed'),
    invalid('userName eq "bad \\q escape"'),
    invalid('nosuch eq "x"'),
    invalid('emails[nosuch eq "x"]'),
    invalid('userName[value eq "x"]'),
    invalid('userName eq "a" and'),
    invalid('(userName eq "a"'),
    invalid('not userName eq "a"'),
    invalid('userName zz "a"'),
    invalid("title pr pr"),
    invalid("(" * 60 + "title pr" + ")" * 60),
    invalid('userName eq "' + "a" * 5000 + '"'),
]
