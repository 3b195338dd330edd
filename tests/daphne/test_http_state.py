"""The HTTP response state machine, body chunking and error pages (sans-IO)."""

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asgi import www
from daphne._http_state import Finish, Phase, RequestBody, ResponseState, Start, Write, error_page
from daphne.exceptions import IllegalTransition, InvalidReply


def test_single_response_starts_writes_and_finishes():
    state = ResponseState()
    actions = state.reply(www.http_response(200, [(b"a", b"1")], b"body"))
    assert actions == [Start(200, [(b"a", b"1")]), Write(b"body"), Finish()]
    assert state.phase is Phase.DONE


def test_streamed_response_goes_through_streaming_until_more_content_is_false():
    state = ResponseState()
    assert state.reply(www.http_response(200, content=b"a", more_content=True))[-1] == Write(b"a")
    assert state.phase is Phase.STREAMING
    assert state.reply(www.http_response_chunk(b"b", more_content=True)) == [Write(b"b")]
    assert state.reply(www.http_response_chunk(b"")) == [Finish()]
    assert state.bytes_sent == 2


def test_messages_after_the_response_completed_are_ignored():
    state = ResponseState()
    state.reply(www.http_response(204))
    assert state.reply(www.http_response_chunk(b"late")) == []


def test_first_message_without_status_is_invalid():
    with pytest.raises(InvalidReply, match="status"):
        ResponseState().reply({"content": b"x"})


def test_second_status_is_invalid():
    state = ResponseState()
    state.reply(www.http_response(200, more_content=True))
    with pytest.raises(InvalidReply, match="second"):
        state.reply(www.http_response(200))


@pytest.mark.parametrize(
    "message",
    [
        {"status": "200"},
        {"status": 42},
        {"status": True},
        {"status": 200, "content": "text"},
        {"status": 200, "headers": [[b"a"]]},
        {"status": 200, "headers": [[b"a", 1]]},
        {"status": 200, "headers": [[b"bad\r\nname", b"v"]]},
        "not a dict",
    ],
)
def test_malformed_first_messages_raise_invalid_reply(message):
    with pytest.raises(InvalidReply):
        ResponseState().reply(message)


def test_str_header_names_are_encoded_latin1_as_in_1x():
    actions = ResponseState().reply({"status": 200, "headers": [["X-A", "\u00e9"]]})
    assert actions[0] == Start(200, [(b"X-A", b"\xe9")])


def test_timeout_only_fails_a_response_that_has_not_started():
    waiting = ResponseState()
    assert waiting.timed_out() is True
    assert waiting.status == 503 and waiting.phase is Phase.DONE
    streaming = ResponseState()
    streaming.reply(www.http_response(200, more_content=True))
    assert streaming.timed_out() is False
    assert streaming.phase is Phase.STREAMING


def test_client_gone_asks_for_disconnect_only_before_completion():
    for prepare, expected in [
        (lambda s: None, True),
        (lambda s: s.reply(www.http_response(200, more_content=True)), True),
        (lambda s: s.reply(www.http_response(200)), False),
    ]:
        state = ResponseState()
        prepare(state)
        assert state.client_gone() is expected


def test_client_gone_twice_is_an_illegal_transition():
    state = ResponseState()
    state.client_gone()
    with pytest.raises(IllegalTransition, match="CLIENT_GONE"):
        state.client_gone()


def test_fail_after_start_cannot_write_an_error_page():
    state = ResponseState()
    state.reply(www.http_response(200, more_content=True))
    assert state.fail(500) is False
    assert state.finished


@given(
    body=st.binary(max_size=3000),
    inline_limit=st.integers(0, 1500),
    chunk_size=st.integers(1, 700),
)
def test_request_body_reassembles_exactly_and_only_last_chunk_ends(body, inline_limit, chunk_size):
    cut = RequestBody(io.BytesIO(body), len(body), inline_limit, chunk_size)
    first = cut.first()
    chunks = []
    while (chunk := cut.next_chunk()) is not None:
        www.validate("http.request.body", chunk)
        chunks.append(chunk)
    assert first + b"".join(c["content"] for c in chunks) == body
    if cut.streamed:
        assert chunks, "a streamed body always sends at least one chunk"
        assert [c["more_content"] for c in chunks] == [True] * (len(chunks) - 1) + [False]
        assert all(0 < len(c["content"]) <= chunk_size for c in chunks)
    else:
        assert first == body and not chunks


def test_request_body_rejects_a_zero_chunk_size():
    with pytest.raises(ValueError, match="chunk_size"):
        RequestBody(io.BytesIO(b""), 0, 10, 0)


def test_error_page_is_html_with_length_and_escaped_detail():
    status, headers, body = error_page(503, "<queue> full")
    assert status == 503
    assert (b"Content-Type", b"text/html; charset=utf-8") in headers
    assert (b"Content-Length", str(len(body)).encode()) in headers
    assert b"&lt;queue&gt; full" in body and b"Daphne" in body
