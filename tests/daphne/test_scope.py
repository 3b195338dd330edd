"""Request target, header and proxy-header parsing.

See docs/asgi/www.rst, and docs/topics/daphne.rst, "Behind a proxy".
"""

from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daphne._proxy import TrustedProxies
from daphne._scope import (
    ProxyHeaders,
    RequestTarget,
    clean_headers,
    request_fields,
    split_target,
)
from daphne.exceptions import BadRequest
from daphne.utils import parse_x_forwarded_for

pytestmark = pytest.mark.unit

path_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="?#"), max_size=40
).map(lambda text: "/" + text)
query_bytes = st.binary(max_size=40).filter(lambda b: b"#" not in b)
header_names = st.binary(min_size=1, max_size=12).filter(lambda b: b":" not in b)


@given(path_text, query_bytes)
def test_split_target_percent_decodes_the_path_and_keeps_the_query_raw(path, query):
    target = quote(path.encode("utf-8"), safe="/").encode("ascii") + b"?" + query
    split = split_target(target)
    assert split.path == path
    assert split.query_string == query


def test_split_target_without_query_gives_empty_query_bytes():
    assert split_target(b"/a%2Fb").query_string == b""
    assert split_target(b"/a%2Fb").path == "/a/b"


def test_non_ascii_bytes_in_the_raw_path_are_a_400():
    with pytest.raises(BadRequest) as info:
        split_target("/caf\u00e9".encode())
    assert info.value.status == 400


def test_a_path_that_is_not_utf8_once_decoded_is_a_400():
    with pytest.raises(BadRequest) as info:
        split_target(b"/%ff%fe")
    assert info.value.status == 400


def test_absolute_form_targets_keep_only_the_path():
    assert split_target(b"http://example.com/x/y?z=1").path == "/x/y"
    assert split_target(b"https://example.com").path == "/"


@given(st.lists(st.tuples(header_names, st.binary(max_size=20)), max_size=12))
def test_clean_headers_lowercase_keep_order_and_duplicates_and_drop_underscores(pairs):
    headers, root = clean_headers(pairs)
    expected = [
        (n.lower(), v)
        for n, v in pairs
        if b"_" not in n.lower() and n.lower() != b"daphne-root-path"
    ]
    assert headers == expected


def test_daphne_root_path_header_is_unquoted_and_removed_from_headers():
    headers, root = clean_headers([(b"Host", b"x"), (b"Daphne-Root-Path", b"/my%20app")])
    assert headers == [(b"host", b"x")]
    assert root == "/my app"


def fields(**overrides):
    options = dict(
        target=b"/p?q",
        raw_headers=[],
        secure=False,
        websocket=False,
        client=["10.0.0.1", 1234],
        server=["127.0.0.1", 8000],
    )
    options.update(overrides)
    return request_fields(**options)


def test_scheme_comes_from_tls_for_http_and_websocket():
    assert fields().scheme == "http"
    assert fields(secure=True).scheme == "https"
    assert fields(websocket=True).scheme == "ws"
    assert fields(websocket=True, secure=True).scheme == "wss"


def test_root_path_header_overrides_the_configured_root_path():
    assert fields(root_path="/conf").root_path == "/conf"
    header = [(b"Daphne-Root-Path", b"/hdr")]
    assert fields(root_path="/conf", raw_headers=header).root_path == "/hdr"


PROXY = ProxyHeaders("X-Forwarded-For", "X-Forwarded-Port", "X-Forwarded-Proto")


def test_proxy_headers_set_client_and_scheme_only_when_enabled():
    raw = [
        (b"X-Forwarded-For", b"1.2.3.4, 10.0.0.9"),
        (b"X-Forwarded-Port", b"443"),
        (b"X-Forwarded-Proto", b"https"),
    ]
    untrusted = fields(raw_headers=raw)
    assert (untrusted.client, untrusted.scheme) == (["10.0.0.1", 1234], "http")
    trusted = fields(raw_headers=raw, proxy=PROXY)
    assert (trusted.client, trusted.scheme) == (["1.2.3.4", 443], "https")
    ws = fields(raw_headers=raw, proxy=PROXY, websocket=True)
    assert ws.scheme == "wss"


FORWARDED = [
    (b"X-Forwarded-For", b"6.6.6.6, 1.2.3.4"),
    (b"X-Forwarded-Port", b"443"),
    (b"X-Forwarded-Proto", b"https"),
]
GUARDED = ProxyHeaders(
    "X-Forwarded-For",
    "X-Forwarded-Port",
    "X-Forwarded-Proto",
    TrustedProxies.parse("10.0.0.0/24"),
)


def test_without_trusted_proxies_the_leftmost_forwarded_address_is_the_client_as_in_1x():
    assert fields(raw_headers=FORWARDED, proxy=PROXY).client == ["6.6.6.6", 443]


def test_a_trusted_peer_gives_the_rightmost_forwarded_address_not_a_trusted_proxy():
    result = fields(raw_headers=FORWARDED, proxy=GUARDED, client=["10.0.0.1", 1234])
    assert (result.client, result.scheme) == (["1.2.3.4", 443], "https")


def test_headers_from_a_peer_not_in_the_trusted_list_are_ignored_entirely():
    result = fields(raw_headers=FORWARDED, proxy=GUARDED, client=["192.0.2.9", 1234])
    assert (result.client, result.scheme) == (["192.0.2.9", 1234], "http")
    ws = fields(raw_headers=FORWARDED, proxy=GUARDED, client=["192.0.2.9", 1234], websocket=True)
    assert (ws.client, ws.scheme) == (["192.0.2.9", 1234], "ws")


def test_a_peer_on_a_unix_socket_is_believed_with_a_trusted_list():
    result = fields(raw_headers=FORWARDED, proxy=GUARDED, client=None)
    assert result.client == ["1.2.3.4", 443]


def test_parse_x_forwarded_for_takes_trusted_proxies_for_the_rightmost_choice():
    headers = {b"x-forwarded-for": [b"6.6.6.6, 1.2.3.4:99, 10.0.0.7"]}
    trusted = TrustedProxies.parse("10.0.0.7")
    assert parse_x_forwarded_for(headers, trusted_proxies=trusted) == (["1.2.3.4", 99], None)


def test_parse_x_forwarded_for_understands_ipv6_and_defaults_port_to_zero():
    addr, scheme = parse_x_forwarded_for({b"x-forwarded-for": [b"[2001:db8::1]:99"]})
    assert addr == ["2001:db8::1", 99]
    addr, _ = parse_x_forwarded_for({"X-Forwarded-For": "2001:db8::2"})
    assert addr == ["2001:db8::2", 0]


def test_parse_x_forwarded_for_ignores_port_and_proto_without_an_address():
    headers = {b"x-forwarded-port": [b"81"], b"x-forwarded-proto": [b"https"]}
    assert parse_x_forwarded_for(headers, original_addr=["a", 1], original_scheme="http") == (
        ["a", 1],
        "http",
    )


def test_parse_x_forwarded_for_reads_twisted_headers():
    from twisted.web.http_headers import Headers

    headers = Headers({b"X-Forwarded-For": [b"5.6.7.8"], b"X-Forwarded-Port": [b"8080"]})
    assert parse_x_forwarded_for(headers) == (["5.6.7.8", 8080], None)


def test_invalid_path_errors_say_which_rule_the_path_broke():
    with pytest.raises(BadRequest, match=r"^Invalid characters in path$"):
        split_target("/caf\u00e9".encode())
    with pytest.raises(BadRequest, match=r"^Path is not valid UTF-8 once percent-decoded$"):
        split_target(b"/%ff")


def test_an_empty_path_is_the_root():
    assert split_target(b"").path == "/"
    assert split_target(b"?x=1") == RequestTarget(path="/", query_string=b"x=1")


def test_a_scheme_separator_inside_the_path_of_an_absolute_target_stays_in_the_path():
    # Only the first "://" ends the scheme; later ones belong to the path.
    assert split_target(b"http://example.com/a://b").path == "/a://b"
    assert split_target(b"HTTPS://example.com/to/http://x/y").path == "/to/http://x/y"


def test_an_absolute_target_with_an_empty_authority_keeps_its_path():
    # The slash right after "://" (index 0 of the rest) still starts the path.
    assert split_target(b"http:///x").path == "/x"
    assert split_target(b"http://host").path == "/"


def test_headers_after_the_daphne_root_path_header_are_kept():
    headers, root = clean_headers(
        [(b"A", b"1"), (b"Daphne-Root-Path", b"/r"), (b"B", b"2"), (b"C_D", b"3"), (b"E", b"4")]
    )
    assert headers == [(b"a", b"1"), (b"b", b"2"), (b"e", b"4")]
    assert root == "/r"


def test_the_daphne_root_path_header_is_read_as_latin1_then_unquoted():
    _, root = clean_headers([(b"Daphne-Root-Path", b"/caf\xe9/%C3%A9")])
    assert root == "/caf\u00e9/\u00e9"


def test_without_header_or_setting_the_root_path_is_empty():
    assert fields().root_path == ""


def test_request_fields_pass_the_target_headers_and_addresses_through():
    result = fields(target=b"/a%20b?x=1", raw_headers=[(b"Host", b"h")])
    assert (result.path, result.query_string) == ("/a b", b"x=1")
    assert result.headers == [(b"host", b"h")]
    assert (result.client, result.server) == (["10.0.0.1", 1234], ["127.0.0.1", 8000])


def test_websocket_behind_a_proxy_reporting_http_is_ws_and_https_is_wss():
    plain = [(b"X-Forwarded-For", b"1.2.3.4"), (b"X-Forwarded-Proto", b"http")]
    secure = [(b"X-Forwarded-For", b"1.2.3.4"), (b"X-Forwarded-Proto", b"https")]
    assert fields(raw_headers=plain, proxy=PROXY, websocket=True, secure=True).scheme == "ws"
    assert fields(raw_headers=secure, proxy=PROXY, websocket=True).scheme == "wss"
    assert fields(raw_headers=plain, proxy=PROXY, secure=True).scheme == "http"


def test_configured_proxy_header_names_are_read_instead_of_the_defaults():
    custom = ProxyHeaders("X-Real-IP", "X-Real-Port", "X-Scheme")
    raw = FORWARDED + [
        (b"X-Real-IP", b"7.7.7.7"),
        (b"X-Real-Port", b"8443"),
        (b"X-Scheme", b"http"),
    ]
    # FORWARDED says https on port 443: only the configured names count.
    result = fields(raw_headers=raw, proxy=custom, secure=True)
    assert (result.client, result.scheme) == (["7.7.7.7", 8443], "http")
    only_defaults = fields(raw_headers=FORWARDED, proxy=custom)
    assert (only_defaults.client, only_defaults.scheme) == (["10.0.0.1", 1234], "http")


def test_an_enabled_proxy_without_its_headers_keeps_the_peer_and_the_scheme():
    result = fields(proxy=PROXY, secure=True)
    assert (result.client, result.scheme) == (["10.0.0.1", 1234], "https")
    ws = fields(proxy=PROXY, websocket=True)
    assert (ws.client, ws.scheme) == (["10.0.0.1", 1234], "ws")


def test_a_forwarded_address_without_proto_keeps_the_connection_scheme():
    raw = [(b"X-Forwarded-For", b"1.2.3.4")]
    assert fields(raw_headers=raw, proxy=PROXY, secure=True).scheme == "https"
    assert fields(raw_headers=raw, proxy=PROXY, websocket=True).scheme == "ws"
    assert fields(raw_headers=raw, proxy=PROXY).client == ["1.2.3.4", 0]
