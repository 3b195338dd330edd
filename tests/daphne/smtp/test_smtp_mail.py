"""daphne.smtp._mail: recipient policy, SIZE parameter and the DATA buffer (sans-IO)."""

from __future__ import annotations

import pytest

from daphne.smtp._mail import MailData, RecipientPolicy, declared_size

pytestmark = pytest.mark.unit


def test_no_domain_list_accepts_every_recipient():
    assert RecipientPolicy(None).allows("anyone@anywhere.example")


@pytest.mark.parametrize(
    "address, allowed",
    [
        ("bot@example.com", True),
        ("Bot@EXAMPLE.COM", True),
        ("bot@example.com.", True),
        ("bot@sub.example.com", False),
        ("bot@example.org", False),
        ("bot@evilexample.com", False),
        ("no-at-sign", False),
        ("bot@lists.example.net", True),
        ("bot@a.b.example.net", True),
        ("bot@example.net", False),
    ],
)
def test_a_domain_list_accepts_only_its_domains_and_dotted_subdomains(address, allowed):
    policy = RecipientPolicy(["example.com", ".example.net"])
    assert policy.allows(address) is allowed


def test_an_empty_domain_list_is_a_configuration_error():
    with pytest.raises(ValueError, match="at least one domain"):
        RecipientPolicy(["", "  "])


@pytest.mark.parametrize(
    "parameters, size",
    [
        (b"SIZE=1234", 1234),
        (b"BODY=8BITMIME size=99", 99),
        (b"SIZE=abc", None),
        (b"", None),
        (None, None),
        (b"BODY=7BIT", None),
    ],
)
def test_declared_size_reads_the_size_parameter(parameters, size):
    assert declared_size(parameters) == size


def test_mail_data_ends_at_a_lone_dot_and_unstuffs_leading_dots():
    data = MailData(1000)
    assert data.feed(b"Subject: x") is False
    assert data.feed(b"") is False
    assert data.feed(b"..hidden dot") is False
    assert data.feed(b".") is True
    assert data.raw() == b"Subject: x\r\n\r\n.hidden dot\r\n"
    assert data.size == len(data.raw())


def test_mail_data_over_the_limit_keeps_counting_but_not_storing():
    data = MailData(10)
    data.feed(b"12345678")
    assert not data.too_large
    data.feed(b"more")
    assert data.too_large and data.size == 16
    assert data._lines == []
    data.feed(b".")
    with pytest.raises(ValueError, match="exceeds the 10-byte limit"):
        data.raw()


def test_mail_data_refuses_lines_after_the_end():
    data = MailData(10)
    data.feed(b".")
    with pytest.raises(RuntimeError, match="after the terminating"):
        data.feed(b"late")


def test_mail_data_needs_a_positive_limit():
    with pytest.raises(ValueError, match="max_size must be positive"):
        MailData(0)
