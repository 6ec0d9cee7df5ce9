"""The filter queries of the bug-reproduction scenarios B01-B31, with their fixtures.

Copied from the scenario files (shared/cases/B*.json): for each filter a
scenario sends, the resources it created first, the request as sent
(a percent-encoded query string, or the `filter` of a `.search` body), and
what it expects: the total and the saved names that must be among the
results, or None for a 400 invalidFilter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


@dataclass(frozen=True)
class ScenarioQuery:
    """One filter of a scenario and the answer it expects."""

    bug: str
    step: str
    resource_type: str
    resources: dict[str, dict[str, Any]]
    path: str | None
    search_filter: str | None
    total: int | None
    includes: tuple[str, ...] = ()


_B01_RESOURCES: dict[str, dict[str, Any]] = {
    "ann": {
        "schemas": [CORE],
        "userName": "b01.ann.lee@example.com",
        "displayName": "Ann Lee",
        "active": True,
    },
    "bo": {
        "schemas": [CORE],
        "userName": "b01.bo.chen@example.com",
        "displayName": "Bo Chen",
        "nickName": "b01bo",
        "active": True,
    },
    "cy": {
        "schemas": [CORE],
        "userName": "b01.cy.lee@example.com",
        "displayName": "Cy Lee b01x",
        "active": False,
    },
}
_B02_RESOURCES: dict[str, dict[str, Any]] = {
    "ann": {
        "schemas": [CORE],
        "userName": "b02.ann.lee@example.com",
        "title": "B02 Engineer",
        "active": False,
    },
    "bo": {
        "schemas": [CORE],
        "userName": "b02.bo.chen@example.com",
        "title": "B02 Engineer",
        "active": True,
    },
}
_B03_RESOURCES: dict[str, dict[str, Any]] = {
    "ann": {
        "schemas": [CORE],
        "userName": "b03.ann.lee@example.com",
        "title": "B03 Intern",
    },
    "bo": {
        "schemas": [CORE],
        "userName": "b03.bo.chen@example.com",
        "title": "B03 Engineer",
    },
}
_B04_RESOURCES: dict[str, dict[str, Any]] = {
    "ann": {"schemas": [CORE], "userName": "b04.ann.lee@example.com", "active": True},
    "bo": {"schemas": [CORE], "userName": "b04.bo.chen@example.com", "active": True},
}
_B05_RESOURCES: dict[str, dict[str, Any]] = {
    "ann": {
        "schemas": [CORE],
        "userName": "b05.ann.lee@example.com",
        "emails": [{"value": "b05.ann@example.com", "type": "work"}],
    },
    "bo": {
        "schemas": [CORE],
        "userName": "b05.bo.chen@example.com",
        "emails": [{"value": "b05.bo@example.com", "type": "work"}],
    },
}
_B06_RESOURCES: dict[str, dict[str, Any]] = {
    "ann": {"schemas": [CORE], "userName": "B06.Ann.Lee@example.com"},
    "bo": {"schemas": [CORE], "userName": "b06.bo.chen@example.com"},
}
_B09_RESOURCES: dict[str, dict[str, Any]] = {
    "jose": {"schemas": [GROUP], "displayName": "B09 José's Team"},
    "plain": {"schemas": [GROUP], "displayName": "B09 Jose's Team"},
}
_B11_RESOURCES: dict[str, dict[str, Any]] = {
    "ann": {"schemas": [CORE], "userName": "b11.ann.lee@example.com", "active": True}
}
_B13_RESOURCES: dict[str, dict[str, Any]] = {
    "ann": {"schemas": [CORE], "userName": "b13.ann.lee@example.com"},
    "bo": {
        "schemas": [CORE, ENTERPRISE],
        "userName": "b13.bo.chen@example.com",
        ENTERPRISE: {"employeeNumber": "1301"},
    },
}
_B26_RESOURCES: dict[str, dict[str, Any]] = {
    "cy": {"schemas": [CORE], "userName": "b26.cy.diaz@example.com"}
}
_B29_RESOURCES: dict[str, dict[str, Any]] = {
    "uma": {"schemas": [CORE], "userName": "b29.uma@example.com"},
    "uri": {"schemas": [CORE], "userName": "b29.uri@example.com"},
    "uwe": {"schemas": [CORE], "userName": "b29.uwe@example.com"},
    "ann": {"schemas": [CORE], "userName": "b29.ann.lee@example.com"},
}
_B30_RESOURCES: dict[str, dict[str, Any]] = {
    "uma": {"schemas": [CORE], "userName": "b30.uma@example.com"},
    "uri": {"schemas": [CORE], "userName": "b30.uri@example.com"},
    "uwe": {"schemas": [CORE], "userName": "b30.uwe@example.com"},
    "ann": {"schemas": [CORE], "userName": "b30.ann.lee@example.com"},
}
_B31_RESOURCES: dict[str, dict[str, Any]] = {
    "uma": {"schemas": [CORE], "userName": "b31.uma@example.com"},
    "uri": {"schemas": [CORE], "userName": "b31.uri@example.com"},
    "uwe": {"schemas": [CORE], "userName": "b31.uwe@example.com"},
}

QUERIES: list[ScenarioQuery] = [
    ScenarioQuery(
        "B01",
        "or-chain of three clauses matches one user per clause",
        "User",
        _B01_RESOURCES,
        (
            "/Users?filter=displayName%20co%20%22b01x%22%20or%20nickName%20co%20%22b0"
            "1bo%22%20or%20userName%20co%20%22b01.ann%22"
        ),
        None,
        3,
        ("ann", "bo", "cy"),
    ),
    ScenarioQuery(
        "B01",
        "and-chain of three clauses keeps only the user satisfying all",
        "User",
        _B01_RESOURCES,
        (
            "/Users?filter=userName%20sw%20%22b01.%22%20and%20active%20eq%20true%20an"
            "d%20userName%20ew%20%22lee%40example.com%22"
        ),
        None,
        1,
        ("ann",),
    ),
    ScenarioQuery(
        "B02",
        "(x or y) and z returns only the active user",
        "User",
        _B02_RESOURCES,
        (
            "/Users?filter=%28userName%20eq%20%22b02.ann.lee%40example.com%22%20or%20"
            "title%20sw%20%22B02%20Eng%22%29%20and%20active%20eq%20true"
        ),
        None,
        1,
        ("bo",),
    ),
    ScenarioQuery(
        "B02",
        "z and (x or y) returns only the active user",
        "User",
        _B02_RESOURCES,
        (
            "/Users?filter=active%20eq%20true%20and%20%28userName%20eq%20%22b02.ann.l"
            "ee%40example.com%22%20or%20title%20sw%20%22B02%20Eng%22%29"
        ),
        None,
        1,
        ("bo",),
    ),
    ScenarioQuery(
        "B02",
        "x or y and z without parentheses is x or (y and z)",
        "User",
        _B02_RESOURCES,
        (
            "/Users?filter=userName%20eq%20%22b02.ann.lee%40example.com%22%20or%20tit"
            "le%20sw%20%22B02%20Eng%22%20and%20active%20eq%20true"
        ),
        None,
        2,
        ("ann", "bo"),
    ),
    ScenarioQuery(
        "B03",
        "not( without a space",
        "User",
        _B03_RESOURCES,
        (
            "/Users?filter=not%28title%20eq%20%22B03%20Intern%22%29%20and%20userName%"
            "20sw%20%22b03.%22"
        ),
        None,
        1,
        ("bo",),
    ),
    ScenarioQuery(
        "B03",
        "not ( with a space",
        "User",
        _B03_RESOURCES,
        (
            "/Users?filter=not%20%28title%20eq%20%22B03%20Intern%22%29%20and%20userNa"
            "me%20sw%20%22b03.%22"
        ),
        None,
        1,
        ("bo",),
    ),
    ScenarioQuery(
        "B04",
        "AND applies the right-hand clause (no result)",
        "User",
        _B04_RESOURCES,
        (
            "/Users?filter=userName%20eq%20%22b04.ann.lee%40example.com%22%20AND%20ac"
            "tive%20eq%20false"
        ),
        None,
        0,
        (),
    ),
    ScenarioQuery(
        "B04",
        "AND with a true right-hand clause",
        "User",
        _B04_RESOURCES,
        (
            "/Users?filter=userName%20eq%20%22b04.ann.lee%40example.com%22%20AND%20ac"
            "tive%20eq%20true"
        ),
        None,
        1,
        ("ann",),
    ),
    ScenarioQuery(
        "B04",
        "OR in capitals",
        "User",
        _B04_RESOURCES,
        (
            "/Users?filter=userName%20eq%20%22b04.ann.lee%40example.com%22%20OR%20use"
            "rName%20eq%20%22b04.bo.chen%40example.com%22"
        ),
        None,
        2,
        ("ann", "bo"),
    ),
    ScenarioQuery(
        "B04",
        "mixed-case And with NOT",
        "User",
        _B04_RESOURCES,
        (
            "/Users?filter=userName%20sw%20%22b04.%22%20And%20NOT%20%28userName%20eq%"
            "20%22b04.bo.chen%40example.com%22%29"
        ),
        None,
        1,
        ("ann",),
    ),
    ScenarioQuery(
        "B05",
        "canonical spelling",
        "User",
        _B05_RESOURCES,
        "/Users?filter=userName%20eq%20%22b05.ann.lee%40example.com%22",
        None,
        1,
        ("ann",),
    ),
    ScenarioQuery(
        "B05",
        "USERNAME Eq",
        "User",
        _B05_RESOURCES,
        "/Users?filter=USERNAME%20Eq%20%22b05.ann.lee%40example.com%22",
        None,
        1,
        ("ann",),
    ),
    ScenarioQuery(
        "B05",
        "canonical emails.value co",
        "User",
        _B05_RESOURCES,
        "/Users?filter=emails.value%20co%20%22b05.ann%40%22",
        None,
        1,
        ("ann",),
    ),
    ScenarioQuery(
        "B05",
        "Emails.Value co",
        "User",
        _B05_RESOURCES,
        "/Users?filter=Emails.Value%20co%20%22b05.ann%40%22",
        None,
        1,
        ("ann",),
    ),
    ScenarioQuery(
        "B05",
        "upper-case SW on userName",
        "User",
        _B05_RESOURCES,
        "/Users?filter=userName%20SW%20%22b05.%22",
        None,
        2,
        ("ann", "bo"),
    ),
    ScenarioQuery(
        "B05",
        "mixed-case names inside a value filter",
        "User",
        _B05_RESOURCES,
        (
            "/Users?filter=Emails%5BType%20EQ%20%22work%22%20and%20VALUE%20sw%20%22b0"
            "5.bo%40%22%5D"
        ),
        None,
        1,
        ("bo",),
    ),
    ScenarioQuery(
        "B06",
        "eq with a lower-case literal",
        "User",
        _B06_RESOURCES,
        "/Users?filter=userName%20eq%20%22b06.ann.lee%40example.com%22",
        None,
        1,
        ("ann",),
    ),
    ScenarioQuery(
        "B06",
        "sw with an upper-case literal",
        "User",
        _B06_RESOURCES,
        "/Users?filter=userName%20sw%20%22B06.ANN%22",
        None,
        1,
        ("ann",),
    ),
    ScenarioQuery(
        "B06",
        "ew with an upper-case literal",
        "User",
        _B06_RESOURCES,
        (
            "/Users?filter=userName%20ew%20%22LEE%40EXAMPLE.COM%22%20and%20userName%2"
            "0sw%20%22b06.%22"
        ),
        None,
        1,
        ("ann",),
    ),
    ScenarioQuery(
        "B09",
        "POST /Groups/.search",
        "Group",
        _B09_RESOURCES,
        None,
        'displayName eq "B09 José\'s Team"',
        1,
        ("jose",),
    ),
    ScenarioQuery(
        "B09",
        "GET with percent-encoded UTF-8",
        "Group",
        _B09_RESOURCES,
        "/Groups?filter=displayName%20eq%20%22B09%20Jos%C3%A9%27s%20Team%22",
        None,
        1,
        ("jose",),
    ),
    ScenarioQuery(
        "B09",
        "co with upper-case accented letters",
        "Group",
        _B09_RESOURCES,
        "/Groups?filter=displayName%20co%20%22JOS%C3%89%27S%22",
        None,
        1,
        ("jose",),
    ),
    ScenarioQuery(
        "B11",
        "active gt true is rejected",
        "User",
        _B11_RESOURCES,
        "/Users?filter=active%20gt%20true",
        None,
        None,
        (),
    ),
    ScenarioQuery(
        "B11",
        "active le false is rejected",
        "User",
        _B11_RESOURCES,
        "/Users?filter=active%20le%20false",
        None,
        None,
        (),
    ),
    ScenarioQuery(
        "B11",
        "active eq true is fine",
        "User",
        _B11_RESOURCES,
        (
            "/Users?filter=active%20eq%20true%20and%20userName%20eq%20%22b11.ann.lee%"
            "40example.com%22"
        ),
        None,
        1,
        ("ann",),
    ),
    ScenarioQuery(
        "B13",
        "schemas eq the enterprise URN",
        "User",
        _B13_RESOURCES,
        (
            "/Users?filter=schemas%20eq%20%22urn%3Aietf%3Aparams%3Ascim%3Aschemas%3Ae"
            "xtension%3Aenterprise%3A2.0%3AUser%22%20and%20userName%20sw%20%22b13.%22"
        ),
        None,
        1,
        ("bo",),
    ),
    ScenarioQuery(
        "B13",
        "schemas eq the core URN",
        "User",
        _B13_RESOURCES,
        (
            "/Users?filter=schemas%20eq%20%22urn%3Aietf%3Aparams%3Ascim%3Aschemas%3Ac"
            "ore%3A2.0%3AUser%22%20and%20userName%20sw%20%22b13.%22"
        ),
        None,
        2,
        ("ann", "bo"),
    ),
    ScenarioQuery(
        "B26",
        "exactly one stored",
        "User",
        _B26_RESOURCES,
        "/Users?filter=userName%20eq%20%22b26.cy.diaz%40example.com%22",
        None,
        1,
        ("cy",),
    ),
    ScenarioQuery(
        "B29",
        "GET count=2",
        "User",
        _B29_RESOURCES,
        "/Users?filter=userName%20sw%20%22b29.u%22&count=2",
        None,
        3,
        (),
    ),
    ScenarioQuery(
        "B29",
        "POST /Users/.search count 2",
        "User",
        _B29_RESOURCES,
        None,
        'userName sw "b29.u"',
        3,
        (),
    ),
    ScenarioQuery(
        "B30",
        "startIndex=3&count=10",
        "User",
        _B30_RESOURCES,
        "/Users?filter=userName%20sw%20%22b30.u%22&startIndex=3&count=10",
        None,
        3,
        (),
    ),
    ScenarioQuery(
        "B31",
        "count=0 with a filter",
        "User",
        _B31_RESOURCES,
        "/Users?filter=userName%20sw%20%22b31.%22&count=0",
        None,
        3,
        (),
    ),
    ScenarioQuery(
        "B31",
        "count=-5&startIndex=0 with a filter",
        "User",
        _B31_RESOURCES,
        "/Users?filter=userName%20sw%20%22b31.%22&count=-5&startIndex=0",
        None,
        3,
        (),
    ),
    ScenarioQuery(
        "B31",
        "no count: server default page holds all three",
        "User",
        _B31_RESOURCES,
        "/Users?filter=userName%20sw%20%22b31.%22",
        None,
        3,
        (),
    ),
]
