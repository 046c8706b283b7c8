"""Where a peer may be reached (registry.peer_origin): HTTPS, plain http loopback to loopback."""

from __future__ import annotations

import pytest

from credentials.errors import MalformedInputError
from federation_config.settings import did_web_for
from federation_config.settings import is_loopback_url as settings_is_loopback_url
from registry.peer_origin import (
    check_peer_base_url,
    did_web_origin,
    is_loopback_url,
    peer_url_issue,
)

PUBLIC_NODE = "https://eu.customs.example"
LOOPBACK_NODE = "http://127.0.0.1:18443"

ACCEPTED = [
    pytest.param(
        "https://us.customs.example", PUBLIC_NODE, "https://us.customs.example", id="https"
    ),
    pytest.param(
        "https://us.customs.example:8443/",
        PUBLIC_NODE,
        "https://us.customs.example:8443",
        id="https-port-trailing-slash",
    ),
    pytest.param(
        "HTTPS://us.customs.example", PUBLIC_NODE, "https://us.customs.example", id="scheme-case"
    ),
    pytest.param(
        "https://us.customs.example",
        LOOPBACK_NODE,
        "https://us.customs.example",
        id="https-from-lo",
    ),
    pytest.param(
        "https://127.0.0.1:8444", PUBLIC_NODE, "https://127.0.0.1:8444", id="https-to-loopback"
    ),
    pytest.param(
        "https://192.0.2.7:8444", PUBLIC_NODE, "https://192.0.2.7:8444", id="https-ip-literal"
    ),
    pytest.param("http://127.0.0.1:18444", LOOPBACK_NODE, "http://127.0.0.1:18444", id="lo-lo"),
    pytest.param(
        "http://127.8.9.10:18444/", LOOPBACK_NODE, "http://127.8.9.10:18444", id="lo-127/8"
    ),
    pytest.param(
        "http://localhost:18444", "http://[::1]:18443", "http://localhost:18444", id="localhost"
    ),
    pytest.param("http://[::1]:18444", "http://localhost:1", "http://[::1]:18444", id="ipv6-lo"),
    pytest.param(
        "http://127.0.0.1:18444",
        "https://127.0.0.1:18443",
        "http://127.0.0.1:18444",
        id="lo-from-https-lo-node",
    ),
]


@pytest.mark.parametrize(("url", "node", "expected"), ACCEPTED)
def test_accepted_peer_base_urls(url: str, node: str, expected: str) -> None:
    assert check_peer_base_url(url, node_base_url=node) == expected


REFUSED = [
    # Plain http.
    pytest.param("http://us.customs.example", PUBLIC_NODE, "loopback host", id="http-public"),
    pytest.param("http://us.customs.example", LOOPBACK_NODE, "loopback host", id="http-from-lo"),
    pytest.param("http://10.0.0.7:8444", LOOPBACK_NODE, "loopback host", id="http-private-ip"),
    pytest.param("http://0.0.0.0:8444", LOOPBACK_NODE, "loopback host", id="http-any-address"),
    pytest.param("http://127.0.0.1:8444", PUBLIC_NODE, "node on loopback", id="lo-peer-pub-node"),
    pytest.param("http://localhost:8444", PUBLIC_NODE, "node on loopback", id="localhost-pub-node"),
    pytest.param(
        "http://[::1]:8444", "https://10.0.0.1", "node on loopback", id="ipv6-lo-private-node"
    ),
    # Spellings of loopback that are not ours to guess.
    pytest.param("http://127.1:8444", LOOPBACK_NODE, "DNS name", id="short-ipv4"),
    pytest.param("http://2130706433", LOOPBACK_NODE, "DNS name", id="integer-ipv4"),
    pytest.param("https://10.1", PUBLIC_NODE, "DNS name", id="https-short-ipv4"),
    pytest.param("http://[::ffff:127.0.0.1]:8444", LOOPBACK_NODE, "loopback host", id="v4-mapped"),
    pytest.param("http://localhost.:8444", LOOPBACK_NODE, "DNS name", id="localhost-dot"),
    # User info, query, fragment, path.
    pytest.param("https://u:p@us.customs.example", PUBLIC_NODE, "user info", id="userinfo"),
    pytest.param("https://@us.customs.example", PUBLIC_NODE, "user info", id="empty-userinfo"),
    pytest.param("http://127.0.0.1@evil.example", LOOPBACK_NODE, "user info", id="lo-userinfo"),
    pytest.param("https://us.customs.example?a=1", PUBLIC_NODE, "query", id="query"),
    pytest.param("https://us.customs.example?", PUBLIC_NODE, "query", id="bare-query"),
    pytest.param("https://us.customs.example#top", PUBLIC_NODE, "fragment", id="fragment"),
    pytest.param("https://us.customs.example#", PUBLIC_NODE, "fragment", id="bare-fragment"),
    pytest.param("https://us.customs.example/api", PUBLIC_NODE, "origin", id="path"),
    pytest.param("https://us.customs.example//", PUBLIC_NODE, "origin", id="double-slash"),
    # Not an http(s) URL with a host.
    pytest.param("ftp://us.customs.example", PUBLIC_NODE, "http(s) URL", id="ftp"),
    pytest.param("us.customs.example", PUBLIC_NODE, "http(s) URL", id="no-scheme"),
    pytest.param("https://", PUBLIC_NODE, "http(s) URL", id="no-host"),
    pytest.param("https://:8443", PUBLIC_NODE, "http(s) URL", id="port-only"),
    pytest.param("", PUBLIC_NODE, "http(s) URL", id="empty"),
    pytest.param("javascript:alert(1)", PUBLIC_NODE, "http(s) URL", id="javascript"),
    # Bad ports and hosts.
    pytest.param("https://us.customs.example:99999", PUBLIC_NODE, "invalid port", id="port-big"),
    pytest.param("https://us.customs.example:0", PUBLIC_NODE, "invalid port", id="port-zero"),
    pytest.param("https://us.customs.example:abc", PUBLIC_NODE, "invalid port", id="port-text"),
    pytest.param("http://[::1", LOOPBACK_NODE, "invalid port or host", id="open-bracket"),
    pytest.param("https://us_customs.example", PUBLIC_NODE, "DNS name", id="underscore"),
    pytest.param("https://zoll.bücher.example", PUBLIC_NODE, "DNS name", id="not-punycode"),
    pytest.param("https://-us.customs.example", PUBLIC_NODE, "DNS name", id="leading-hyphen"),
    pytest.param("https://us..customs.example", PUBLIC_NODE, "DNS name", id="empty-label"),
    # Characters a URL we store and print must not hold.
    pytest.param("https://us.customs.example\n", PUBLIC_NODE, "whitespace", id="newline"),
    pytest.param(" https://us.customs.example", PUBLIC_NODE, "whitespace", id="leading-space"),
    pytest.param("https://us.cus\ttoms.example", PUBLIC_NODE, "whitespace", id="tab"),
    pytest.param("https://us.customs\u2028.example", PUBLIC_NODE, "whitespace", id="u2028"),
    pytest.param("https://us.customs.example\x00", PUBLIC_NODE, "control", id="nul"),
    pytest.param("https://evil.example\\@us.customs.example", PUBLIC_NODE, "backslash", id="bs"),
]


@pytest.mark.parametrize(("url", "node", "reason"), REFUSED)
def test_refused_peer_base_urls(url: str, node: str, reason: str) -> None:
    with pytest.raises(MalformedInputError) as caught:
        check_peer_base_url(url, node_base_url=node)
    error = caught.value
    assert error.code == "INVALID_PEER"
    assert error.message.startswith("peer base URL ")
    assert reason in error.message
    # One line, whatever the URL holds, for the CLI and for logs.
    assert "\n" not in error.diagnostics() and "\u2028" not in error.diagnostics()


def test_messages_name_this_node_when_it_is_the_reason() -> None:
    with pytest.raises(MalformedInputError) as caught:
        check_peer_base_url("http://127.0.0.1:8444", node_base_url=PUBLIC_NODE)
    assert caught.value.message == (
        "peer base URL must use https: plain http to a loopback host is allowed only from a "
        'node on loopback (this node is "https://eu.customs.example") '
        '(got "http://127.0.0.1:8444")'
    )


def test_a_long_url_is_shortened_in_the_message() -> None:
    url = "http://" + "a" * 300 + ".example"
    with pytest.raises(MalformedInputError) as caught:
        check_peer_base_url(url, node_base_url=LOOPBACK_NODE)
    assert len(caught.value.message) < 200
    assert caught.value.message.endswith("…)")


@pytest.mark.parametrize(
    ("url", "origin", "node", "issue"),
    [
        pytest.param("http://localhost:8445/events", False, None, None, id="push-loopback"),
        pytest.param("https://us.customs.example/events", False, PUBLIC_NODE, None, id="push"),
        pytest.param(
            "https://us.customs.example/events?x", False, PUBLIC_NODE, "query", id="push-query"
        ),
        pytest.param(
            "http://us.customs.example/events", False, None, "loopback host", id="push-http"
        ),
        pytest.param(
            "http://127.0.0.1:8445", True, PUBLIC_NODE, "node on loopback", id="base-public-node"
        ),
        pytest.param("http://127.0.0.1:8445", True, None, None, id="base-node-unknown"),
    ],
)
def test_peer_url_issue(url: str, origin: bool, node: str | None, issue: str | None) -> None:
    found = peer_url_issue(url, node_base_url=node, origin=origin)
    if issue is None:
        assert found is None
    else:
        assert found is not None and found.startswith("must") and issue in found


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param("http://localhost:1", True, id="localhost"),
        pytest.param("https://LOCALHOST", True, id="localhost-upper"),
        pytest.param("http://127.0.0.1", True, id="127.0.0.1"),
        pytest.param("http://127.255.255.254:9", True, id="127/8-top"),
        pytest.param("http://[::1]:9", True, id="ipv6"),
        pytest.param("http://[::ffff:127.0.0.1]", False, id="v4-mapped"),
        pytest.param("http://127.1", False, id="short-form"),
        pytest.param("http://128.0.0.1", False, id="128"),
        pytest.param("http://localhost.example", False, id="localhost-prefix"),
        pytest.param("http://0.0.0.0", False, id="any"),
        pytest.param("http://[::1", False, id="unparsable"),
        pytest.param("not a url", False, id="no-host"),
    ],
)
def test_is_loopback_url(url: str, expected: bool) -> None:
    assert is_loopback_url(url) is expected
    # The node's own transport check uses the same test.
    assert settings_is_loopback_url(url) is expected


@pytest.mark.parametrize(
    ("base_url", "origin"),
    [
        pytest.param("https://eu.customs.example", "https://eu.customs.example", id="host"),
        pytest.param("http://127.0.0.1:18443", "https://127.0.0.1:18443", id="loopback-port"),
        pytest.param("https://localhost:8443/", "https://localhost:8443", id="localhost"),
    ],
)
def test_did_web_origin_names_the_nodes_host(base_url: str, origin: str) -> None:
    did = did_web_for(base_url)
    assert did_web_origin(did) == origin
    assert is_loopback_url(did_web_origin(did)) is is_loopback_url(base_url)


@pytest.mark.parametrize(
    "did",
    [
        pytest.param("did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2", id="did-key"),
        pytest.param("did:web:", id="empty"),
        pytest.param("did:web:eu.customs.example:path:to", id="path"),
        pytest.param("did:web:eu.customs.example%2Fx", id="encoded-slash"),
        pytest.param("did:web:user%40eu.customs.example", id="user"),
        pytest.param("did:web:eu.customs.example%3F", id="query"),
        pytest.param("did:web:eu.customs.example%253A1", id="double-encoded"),
        pytest.param("did:web:eu.customs.example%0A", id="newline"),
        pytest.param("https://eu.customs.example", id="url"),
    ],
)
def test_did_web_origin_refuses_what_names_no_origin(did: str) -> None:
    with pytest.raises(MalformedInputError) as caught:
        did_web_origin(did)
    assert caught.value.code == "INVALID_DID"
