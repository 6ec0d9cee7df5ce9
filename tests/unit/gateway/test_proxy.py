"""Reading proxy headers: RFC 7239 `Forwarded`, `X-Forwarded-*`, trusted hops."""

from __future__ import annotations

import pytest
from starlette.datastructures import Headers

from scim_gateway.proxy import (
    ForwardedView,
    TrustedProxies,
    forwarded_view,
    parse_forwarded,
)


class TestParseForwarded:
    def test_elements_and_pairs_are_split_and_unquoted(self) -> None:
        header = (
            'for=192.0.2.60;proto=https;host="id.example.com", for="[2001:db8::1]:4711"'
        )

        assert parse_forwarded(header) == [
            {"for": "192.0.2.60", "proto": "https", "host": "id.example.com"},
            {"for": "[2001:db8::1]:4711"},
        ]

    def test_names_are_case_insensitive(self) -> None:
        assert parse_forwarded("For=192.0.2.1;PROTO=https") == [
            {"for": "192.0.2.1", "proto": "https"}
        ]

    def test_quoted_commas_and_semicolons_stay_in_their_value(self) -> None:
        assert parse_forwarded('host="a,b;c";for=192.0.2.1') == [
            {"host": "a,b;c", "for": "192.0.2.1"}
        ]

    def test_malformed_pairs_are_skipped(self) -> None:
        assert parse_forwarded("for;proto=https;=x") == [{"proto": "https"}]


class TestTrustedProxies:
    def test_addresses_and_networks_are_trusted(self) -> None:
        trusted = TrustedProxies("127.0.0.1, 10.0.0.0/8, ::1")

        assert [
            trusted.trusts(host)
            for host in ("127.0.0.1", "10.2.3.4", "::1", "192.0.2.1", None, "x")
        ] == [True, True, True, False, False, False]

    def test_star_trusts_everyone(self) -> None:
        assert TrustedProxies("*").trusts("203.0.113.9")

    def test_malformed_entry_is_named(self) -> None:
        with pytest.raises(ValueError, match="'proxy.local' is no IP address"):
            TrustedProxies("127.0.0.1,proxy.local")


def view(trusted: str = "10.0.0.0/8", **headers: str) -> ForwardedView:
    names = {name.replace("_", "-"): value for name, value in headers.items()}
    return forwarded_view(Headers(names), TrustedProxies(trusted))


class TestForwardedView:
    def test_x_forwarded_headers_give_scheme_host_prefix_and_client(self) -> None:
        assert view(
            x_forwarded_proto="https",
            x_forwarded_host="id.example.com",
            x_forwarded_prefix="/identity/",
            x_forwarded_for="203.0.113.9",
        ) == ForwardedView("https", "id.example.com", "/identity", "203.0.113.9")

    def test_forwarded_header_wins_over_x_forwarded(self) -> None:
        result = view(
            forwarded='for=203.0.113.9;proto=https;host="id.example.com:8443"',
            x_forwarded_proto="http",
            x_forwarded_host="other.example.com",
        )

        assert result == ForwardedView(
            "https", "id.example.com:8443", None, "203.0.113.9"
        )

    def test_elements_added_by_trusted_proxies_are_looked_past(self) -> None:
        header = (
            "for=203.0.113.9;proto=https;host=id.example.com, "
            "for=10.0.0.2;proto=http;host=inner"
        )

        assert view(forwarded=header) == ForwardedView(
            "https", "id.example.com", None, "203.0.113.9"
        )

    def test_an_element_a_client_made_up_is_not_reached_past_an_untrusted_hop(
        self,
    ) -> None:
        header = (
            "for=1.2.3.4;host=evil.example, "
            "for=203.0.113.9;proto=https;host=id.example.com"
        )

        assert view(forwarded=header).host == "id.example.com"

    def test_x_forwarded_for_walks_back_to_the_first_untrusted_hop(self) -> None:
        result = view(x_forwarded_for="198.51.100.1, 203.0.113.9, 10.0.0.2")

        assert result.client == "203.0.113.9"

    def test_the_value_the_nearest_proxy_appended_counts(self) -> None:
        assert view(x_forwarded_proto="http, https").proto == "https"

    @pytest.mark.parametrize(
        ("name", "value"),
        [
            ("x_forwarded_proto", "gopher"),
            ("x_forwarded_host", "evil.example/path"),
            ("x_forwarded_host", "a b"),
            ("x_forwarded_prefix", "/a/../b"),
            ("x_forwarded_prefix", "no-slash"),
            ("x_forwarded_prefix", "/a?b"),
            ("x_forwarded_for", "not-an-address"),
        ],
    )
    def test_malformed_values_are_ignored(self, name: str, value: str) -> None:
        assert view(**{name: value}) == ForwardedView()

    def test_ports_are_dropped_from_client_addresses(self) -> None:
        assert view(forwarded='for="[2001:db8::1]:4711"').client == "2001:db8::1"
        assert view(forwarded='for="192.0.2.1:4711"').client == "192.0.2.1"
