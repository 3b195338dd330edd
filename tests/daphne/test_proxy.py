"""Trusted proxies and the choice of the client among forwarded addresses.

See docs/topics/daphne.rst, "Behind a proxy".
"""

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daphne._proxy import (
    TrustedProxies,
    address_key,
    pick_companion,
    pick_forwarded,
    pick_forwarded_entry,
    split_host_port,
)
from daphne.utils import parse_x_forwarded_for

pytestmark = pytest.mark.unit

TRUSTED = TrustedProxies.parse("10.0.0.0/8, 127.0.0.1, 2001:db8::/32")

untrusted_ipv4 = st.ip_addresses(v=4).map(str).filter(lambda host: host not in TRUSTED)
trusted_ipv4 = st.ip_addresses(v=4, network="10.0.0.0/8").map(str)


def test_an_exact_address_and_a_network_member_are_trusted():
    assert "127.0.0.1" in TRUSTED
    assert "10.200.3.4" in TRUSTED
    assert "2001:db8::7" in TRUSTED
    assert "127.0.0.2" not in TRUSTED
    assert "192.168.1.1" not in TRUSTED


def test_other_spellings_of_a_trusted_address_are_trusted():
    proxies = TrustedProxies.parse("::1, 192.0.2.1")
    assert "0:0:0:0:0:0:0:1" in proxies
    assert "::ffff:192.0.2.1" in proxies  # dual-stack listener's view of an IPv4 peer


def test_names_and_garbage_are_never_trusted():
    assert "unknown" not in TRUSTED
    assert "_hidden" not in TRUSTED
    assert "" not in TRUSTED
    assert None not in TRUSTED


def test_a_star_trusts_every_address():
    everyone = TrustedProxies.parse("*")
    assert "203.0.113.9" in everyone and "unknown" in everyone


@pytest.mark.parametrize("entry", ["localhost", "10.0.0.0/33", "1.2.3"])
def test_an_entry_that_is_no_address_or_network_is_a_value_error(entry):
    with pytest.raises(ValueError, match=rf"expected an IP address.*got '{entry}'"):
        TrustedProxies.parse(f"127.0.0.1, {entry}")


def test_the_memo_of_answers_is_bounded_and_stays_right_after_a_reset():
    proxies = TrustedProxies.parse("10.0.0.0/8")
    proxies.MEMO_SIZE = 3
    for i in range(10):
        assert f"192.0.2.{i}" not in proxies
        assert len(proxies._memo) <= 3
    assert "10.1.1.1" in proxies


@pytest.mark.parametrize(
    "entry, expected",
    [
        ("1.2.3.4", ("1.2.3.4", 0)),
        ("1.2.3.4:80", ("1.2.3.4", 80)),
        ("[::1]:8080", ("::1", 8080)),
        ("[::1]", ("::1", 0)),
        ("2001:db8::2", ("2001:db8::2", 0)),
    ],
)
def test_split_host_port_reads_ipv4_and_ipv6_entries(entry, expected):
    assert split_host_port(entry) == expected


def test_without_a_trusted_list_the_leftmost_entry_names_the_client_as_in_1x():
    assert pick_forwarded_entry("6.6.6.6, 1.2.3.4, 10.0.0.2", None) == "6.6.6.6"


def test_with_a_trusted_list_a_forged_leftmost_entry_is_skipped():
    # the client sent "X-Forwarded-For: 6.6.6.6", our proxy appended the real peer
    assert pick_forwarded_entry("6.6.6.6, 1.2.3.4", TRUSTED) == "1.2.3.4"


def test_trusted_proxies_on_the_right_are_skipped_with_or_without_ports():
    value = "6.6.6.6, 1.2.3.4:5678, 10.0.0.2, [2001:db8::1]:443"
    assert pick_forwarded_entry(value, TRUSTED) == "1.2.3.4:5678"


def test_when_every_entry_is_a_trusted_proxy_the_leftmost_is_taken():
    assert pick_forwarded_entry("10.0.0.3, 10.0.0.2", TRUSTED) == "10.0.0.3"


def test_empty_entries_are_not_mistaken_for_the_client():
    assert pick_forwarded_entry("1.2.3.4, , 10.0.0.2", TRUSTED) == "1.2.3.4"


@given(
    st.lists(untrusted_ipv4 | trusted_ipv4, max_size=4),
    untrusted_ipv4,
    st.lists(trusted_ipv4, max_size=4),
)
def test_the_client_is_the_rightmost_address_no_trusted_proxy_vouches_past(forged, client, chain):
    value = ", ".join([*forged, client, *chain])
    assert pick_forwarded_entry(value, TRUSTED) == client


def not_ipv4_mapped(ip):
    return ip.version == 4 or ip.ipv4_mapped is None


@given(
    st.ip_addresses().filter(not_ipv4_mapped),
    st.ip_addresses().filter(not_ipv4_mapped),
    st.integers(min_value=0, max_value=128),
)
def test_membership_agrees_with_the_ipaddress_module(host, base, prefix):
    network = ipaddress.ip_network(f"{base}/{min(prefix, base.max_prefixlen)}", strict=False)
    proxies = TrustedProxies([str(network)])
    assert (str(host) in proxies) == (host.version == network.version and host in network)
    assert (host.exploded in proxies) == (str(host) in proxies)


@pytest.mark.parametrize("host", ["1.2.3", "01.2.3.4", "1.2.3.4\x00", "fe80::1%eth0", ""])
def test_address_key_is_none_for_what_is_not_a_plain_ip_address(host):
    assert address_key(host) is None


# X-Forwarded-Proto and -Port with a trusted list: the values the same hop wrote.


def forwarded(headers, trusted=TRUSTED):
    return parse_x_forwarded_for(
        {name.lower(): value for name, value in headers.items()},
        original_addr=["10.0.0.2", 5000],
        original_scheme="http",
        trusted_proxies=trusted,
    )


def test_appended_proto_and_port_are_read_at_the_client_entrys_place():
    # the client forged all three; our proxy appended what it saw to each
    headers = {
        "X-Forwarded-For": "6.6.6.6, 1.2.3.4",
        "X-Forwarded-Proto": "http, https",
        "X-Forwarded-Port": "1, 443",
    }
    assert forwarded(headers) == (["1.2.3.4", 443], "https")


def test_a_chain_of_trusted_proxies_keeps_the_headers_in_step():
    headers = {
        "X-Forwarded-For": "6.6.6.6, 1.2.3.4, 10.0.0.9",
        "X-Forwarded-Proto": "ftp, https, http",
        "X-Forwarded-Port": "1, 8443, 80",
    }
    assert forwarded(headers) == (["1.2.3.4", 8443], "https")


def test_a_proto_set_rather_than_appended_is_read_from_its_rightmost_entry():
    # the client sent a proto list; a proxy that sets the header would have
    # replaced it, one that appends once leaves it longer than the address list
    headers = {"X-Forwarded-For": "1.2.3.4", "X-Forwarded-Proto": "http, https"}
    assert forwarded(headers) == (["1.2.3.4", 0], "https")
    headers = {"X-Forwarded-For": "6.6.6.6, 1.2.3.4", "X-Forwarded-Proto": "HTTPS"}
    assert forwarded(headers) == (["1.2.3.4", 0], "https")


def test_a_port_entry_that_is_no_number_leaves_the_address_port():
    headers = {"X-Forwarded-For": "6.6.6.6, 1.2.3.4:99", "X-Forwarded-Port": "1, http"}
    assert forwarded(headers) == (["1.2.3.4", 99], "http")


def test_without_a_trusted_list_the_first_proto_and_the_whole_port_count_as_before():
    headers = {
        "X-Forwarded-For": "6.6.6.6, 1.2.3.4",
        "X-Forwarded-Proto": "HTTP, https",
        "X-Forwarded-Port": "1, 443",
    }
    # leftmost address, first proto; "1, 443" is no number, so no port (1.x)
    assert forwarded(headers, trusted=None) == (["6.6.6.6", 0], "http")
    headers["X-Forwarded-Port"] = " 8080 "
    assert forwarded(headers, trusted=None) == (["6.6.6.6", 8080], "http")


@pytest.mark.parametrize(
    ("value", "from_right", "count", "expected"),
    [
        ("a, b, c", 0, 3, "c"),
        ("a, b, c", 2, 3, "a"),
        ("a, b, c", 1, 3, "b"),
        ("a, b", 1, 3, "b"),  # out of step: rightmost
        ("a,b,c,d", 3, 3, "d"),
        (" x ", 0, 1, "x"),
    ],
)
def test_pick_companion_matches_the_place_or_falls_back_to_the_rightmost(
    value, from_right, count, expected
):
    assert pick_companion(value, from_right, count) == expected


def test_pick_forwarded_reports_the_place_of_the_chosen_entry():
    assert pick_forwarded("6.6.6.6, 1.2.3.4, 10.0.0.2", TRUSTED) == ("1.2.3.4", 1, 3)
    assert pick_forwarded("10.0.0.3, 10.0.0.2", TRUSTED) == ("10.0.0.3", 1, 2)
    assert pick_forwarded("6.6.6.6, 1.2.3.4", None) == ("6.6.6.6", 1, 2)
    assert pick_forwarded("1.2.3.4", TRUSTED) == ("1.2.3.4", 0, 1)
