"""asgi.email: the email.receive format and turning raw mail into it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asgi import email as asgi_email
from asgi.exceptions import InvalidMessage

pytestmark = pytest.mark.unit


def leaf(body: bytes = b"hi", content_type: str = "text/plain") -> dict:
    return asgi_email.content_object(content_type, body=body)


def test_email_receive_builds_a_valid_message():
    message = asgi_email.email_receive(
        sender="a@example.org", to=("b@example.com",), headers={"subject": "x"}, content=leaf()
    )
    assert message == {
        "from": "a@example.org",
        "to": ["b@example.com"],
        "address": "b@example.com",
        "headers": {"subject": "x"},
        "content": {"content-type": "text/plain", "body": b"hi"},
    }


@pytest.mark.parametrize(
    "changes, complaint",
    [
        ({"to": []}, "non-empty list of str"),
        ({"to": [b"b@example.com"]}, "non-empty list of str"),
        ({"from": b"a@x"}, "'from' must be str or None"),
        ({"headers": {"Subject": "x"}}, "lowercase str names"),
        ({"headers": {"subject": b"x"}}, "lowercase str names"),
        ({"content": {"body": b"x"}}, "lacks the required key 'content-type'"),
        ({"content": {"content-type": "text/plain"}}, "exactly one of 'parts'"),
        (
            {"content": {"content-type": "multipart/mixed", "parts": [], "body": b""}},
            "exactly one of 'parts'",
        ),
        ({"content": {"content-type": "text/plain", "body": "str"}}, "'body' must be bytes"),
        (
            {"content": {"content-type": "multipart/mixed", "parts": [{"content-type": "x"}]}},
            "exactly one of 'parts'",
        ),
    ],
)
def test_validate_rejects_bad_messages_saying_what_was_expected(changes, complaint):
    message = {"from": None, "to": ["b@example.com"], "headers": {}, "content": leaf()} | changes
    with pytest.raises(InvalidMessage) as error:
        asgi_email.validate("email.receive", message)
    assert complaint in str(error.value)


@pytest.mark.parametrize("key", ["from", "to", "headers", "content"])
def test_email_receive_requires_each_key(key):
    message = {"from": None, "to": ["b@example.com"], "headers": {}, "content": leaf()}
    del message[key]
    with pytest.raises(InvalidMessage, match=repr(key)):
        asgi_email.validate("email.receive", message)


def test_deeply_nested_content_is_refused():
    content = leaf()
    for _ in range(asgi_email.MAX_DEPTH + 2):
        content = {"content-type": "multipart/mixed", "parts": [content]}
    with pytest.raises(InvalidMessage, match="deeper than"):
        asgi_email.validate("email.content", content)


RAW = (
    b"From: =?utf-8?q?Zo=C3=AB?= <zoe@example.org>\r\n"
    b"To: bot@example.com\r\n"
    b"Subject: =?iso-8859-1?q?caf=E9?= and\r\n"
    b" =?utf-8?b?8J+YgA==?= folded\r\n"
    b"Received: from a\r\n"
    b"Received: from b\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=XX\r\n"
    b"\r\n"
    b"--XX\r\n"
    b"Content-Type: text/plain; charset=iso-8859-1\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"caf=E9=\r\n"
    b" au lait\r\n"
    b"--XX\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"\r\n"
    b"Subject: inner\r\n"
    b"\r\n"
    b"inner body\r\n"
    b"--XX--\r\n"
)


def test_address_is_the_first_envelope_recipient_for_routing():
    message = asgi_email.email_receive_from_bytes("a@x", ["one@x", "two@x"], b"\r\nbody")
    assert message["address"] == "one@x"
    with pytest.raises(InvalidMessage, match="'address' must be str or None"):
        asgi_email.validate("email.receive", message | {"address": ["one@x"]})


def test_raw_mail_headers_are_lowercased_unfolded_and_rfc2047_decoded():
    message = asgi_email.email_receive_from_bytes("zoe@example.org", ["bot@example.com"], RAW)
    headers = message["headers"]
    assert headers["from"] == "Zoë <zoe@example.org>"
    assert headers["subject"] == "café and 😀 folded"
    assert headers["received"] == "from a, from b"
    assert all(name == name.lower() for name in headers)


def test_raw_mail_bodies_are_transfer_decoded_and_nested_messages_become_parts():
    message = asgi_email.email_receive_from_bytes(None, ["bot@example.com"], RAW)
    text, forwarded = message["content"]["parts"]
    assert text["body"] == b"caf\xe9 au lait"  # the CRLF before a boundary is the boundary's
    assert text["content-type"] == "text/plain; charset=iso-8859-1"
    assert text["headers"]["content-transfer-encoding"] == "quoted-printable"
    assert forwarded["content-type"] == "message/rfc822"
    (inner,) = forwarded["parts"]
    assert inner["headers"]["subject"] == "inner"
    assert inner["body"] == b"inner body"


def test_a_mail_without_content_type_is_text_plain_with_its_body():
    message = asgi_email.email_receive_from_bytes("", ["b@x"], b"Subject: s\r\n\r\nbody\r\n")
    assert message["from"] is None
    assert message["content"] == {"content-type": "text/plain", "body": b"body\r\n"}
    assert set(message) == {"from", "to", "address", "headers", "content"}


def test_base64_bodies_are_decoded():
    raw = b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n"
    message = asgi_email.email_receive_from_bytes("a@x", ["b@x"], raw)
    assert message["content"]["body"] == b"%PDF-"


def test_malformed_encoded_words_and_raw_8bit_headers_do_not_raise():
    assert asgi_email.decode_header_value("=?bogus-charset?q?x?=") == "=?bogus-charset?q?x?="
    assert asgi_email.decode_header_value("=?utf-8?q?caf=E9?=") == "=?utf-8?q?caf=E9?="
    raw = "Subject: caf\xc3\xa9\r\n\r\nx".encode("latin-1")
    message = asgi_email.email_receive_from_bytes("a@x", ["b@x"], raw)
    assert message["headers"]["subject"] == "café"


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=600))
def test_any_bytes_give_a_valid_message_or_a_named_error(raw):
    try:
        message = asgi_email.email_receive_from_bytes("a@x", ["b@x"], raw)
    except InvalidMessage:
        return
    asgi_email.validate("email.receive", message)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_decode_header_value_always_returns_text(value):
    assert isinstance(asgi_email.decode_header_value(value), str)
