"""Which request heads daphne refuses (sans-IO): field lines, field counts,
the whole head, chunk sizes."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daphne._http_head import chunk_refusal, field_count_refusal, field_line_refusal, head_refusal

pytestmark = pytest.mark.unit

CONTROLS = [bytes([c]) for c in [*range(0x00, 0x09), *range(0x0A, 0x20), 0x7F]]


def counts(**fields):
    return lambda name: fields.get(name.decode().replace("-", "_"), 0)


@pytest.mark.parametrize("first", [b" ", b"\t"])
def test_a_field_line_starting_with_whitespace_is_obsolete_folding_refused_with_400(first):
    refusal = field_line_refusal(first + b"continued")
    assert refusal.status == 400 and "folding" in refusal.detail


@pytest.mark.parametrize("control", CONTROLS)
def test_a_control_character_other_than_htab_in_a_field_line_is_refused_with_400(control):
    refusal = field_line_refusal(b"X-Thing: a" + control + b"b")
    assert refusal.status == 400 and "Control character" in refusal.detail


@given(st.binary().filter(lambda v: not set(v) & {*range(0x20), 0x7F} - {0x09}))
def test_a_field_line_of_visible_characters_tab_and_obs_text_is_accepted(value):
    assert field_line_refusal(b"X-Thing: " + value) is None


def test_more_fields_than_the_limit_is_431_and_the_limit_itself_is_fine():
    assert field_count_refusal(500, 500) is None
    refusal = field_count_refusal(501, 500)
    assert refusal.status == 431 and refusal.detail == "Too many request headers."


def test_transfer_encoding_on_http_10_is_refused_with_400():
    refusal = head_refusal(
        version=b"HTTP/1.0", count_fields=counts(transfer_encoding=1), strict=False
    )
    assert refusal.status == 400 and "HTTP/1.0" in refusal.detail


def test_transfer_encoding_on_http_11_is_accepted():
    assert (
        head_refusal(
            version=b"HTTP/1.1", count_fields=counts(transfer_encoding=1, host=1), strict=True
        )
        is None
    )


def test_a_missing_host_on_http_11_is_accepted_unless_strict():
    assert head_refusal(version=b"HTTP/1.1", count_fields=counts(), strict=False) is None
    refusal = head_refusal(version=b"HTTP/1.1", count_fields=counts(), strict=True)
    assert refusal.status == 400 and "no Host" in refusal.detail


def test_strict_refuses_two_host_headers_on_http_11_with_400():
    refusal = head_refusal(version=b"HTTP/1.1", count_fields=counts(host=2), strict=True)
    assert refusal.status == 400 and "more than one Host" in refusal.detail


def test_strict_does_not_ask_http_10_for_a_host():
    assert head_refusal(version=b"HTTP/1.0", count_fields=counts(), strict=True) is None


def test_a_usual_http_11_head_looks_up_no_header():
    def count_fields(name):
        raise AssertionError(f"looked up {name!r}")

    assert head_refusal(version=b"HTTP/1.1", count_fields=count_fields, strict=False) is None


def test_a_chunk_taking_the_body_past_the_limit_is_413_and_one_reaching_it_is_fine():
    assert chunk_refusal(received=60, size=40, limit=100) is None
    assert chunk_refusal(received=60, size=41, limit=100).status == 413
    assert chunk_refusal(received=0, size=10**12, limit=None) is None
