"""The HTTP response state machine, body chunking and error pages (sans-IO).

Replies are raw dicts where a builder would fill in a default (no
``headers``, ``content`` or ``more_content``): the machine must apply the
spec's defaults itself.
"""

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asgi import www
from daphne._http_state import Finish, Phase, RequestBody, ResponseState, Start, Write, error_page
from daphne.exceptions import IllegalTransition, InvalidReply, ProtocolStateError

pytestmark = pytest.mark.unit


def in_phase(phase):
    """A machine driven into ``phase`` through its events only."""
    state = ResponseState()
    if phase is Phase.STREAMING:
        state.reply({"status": 200, "more_content": True})
    elif phase is Phase.DONE:
        state.reply({"status": 204})
    elif phase is Phase.CLIENT_GONE:
        state.client_gone()
    assert state.phase is phase
    return state


# -- every (phase, event) pair ---------------------------------------------------

EVENTS = {
    "reply": lambda state: state.reply({"content": b"late"} if state.started else {"status": 200}),
    "fail": lambda state: state.fail(500),
    "timed_out": lambda state: state.timed_out(),
    "client_gone": lambda state: state.client_gone(),
}

RAISES = object()

#: (phase, event) -> (result, phase after, status after), or RAISES.
TABLE = {
    (Phase.AWAITING, "reply"): ([Start(200, []), Finish()], Phase.DONE, 200),
    (Phase.AWAITING, "fail"): (True, Phase.DONE, 500),
    (Phase.AWAITING, "timed_out"): (True, Phase.DONE, 503),
    (Phase.AWAITING, "client_gone"): (True, Phase.CLIENT_GONE, None),
    (Phase.STREAMING, "reply"): ([Write(b"late"), Finish()], Phase.DONE, 200),
    (Phase.STREAMING, "fail"): (False, Phase.DONE, 200),
    (Phase.STREAMING, "timed_out"): (False, Phase.STREAMING, 200),
    (Phase.STREAMING, "client_gone"): (True, Phase.CLIENT_GONE, 200),
    (Phase.DONE, "reply"): ([], Phase.DONE, 204),
    (Phase.DONE, "fail"): (False, Phase.DONE, 204),
    (Phase.DONE, "timed_out"): RAISES,
    (Phase.DONE, "client_gone"): (False, Phase.DONE, 204),
    (Phase.CLIENT_GONE, "reply"): ([], Phase.CLIENT_GONE, None),
    (Phase.CLIENT_GONE, "fail"): (False, Phase.CLIENT_GONE, None),
    (Phase.CLIENT_GONE, "timed_out"): RAISES,
    (Phase.CLIENT_GONE, "client_gone"): RAISES,
}


def test_the_table_covers_every_phase_and_event():
    assert set(TABLE) == {(phase, event) for phase in Phase for event in EVENTS}


ALLOWED = [pair for pair, outcome in TABLE.items() if outcome is not RAISES]
REFUSED = [pair for pair, outcome in TABLE.items() if outcome is RAISES]


@pytest.mark.parametrize("phase, event", ALLOWED)
def test_an_expected_event_does_what_the_table_says(phase, event):
    result, after, status = TABLE[phase, event]
    state = in_phase(phase)
    assert EVENTS[event](state) == result
    assert state.phase is after
    assert state.status == status


@pytest.mark.parametrize("phase, event", REFUSED)
def test_an_unexpected_event_raises_naming_the_event_and_the_phase(phase, event):
    state = in_phase(phase)
    status = state.status
    with pytest.raises(
        ProtocolStateError, match=rf"^ResponseState cannot handle '{event}' in state {phase.name}$"
    ) as raised:
        EVENTS[event](state)
    assert (raised.value.machine, raised.value.phase, raised.value.event) == (
        "ResponseState",
        phase,
        event,
    )
    assert (state.phase, state.status) == (phase, status)


@pytest.mark.parametrize(
    "phase, started, finished",
    [
        (Phase.AWAITING, False, False),
        (Phase.STREAMING, True, False),
        (Phase.DONE, True, True),
        (Phase.CLIENT_GONE, False, True),
    ],
)
def test_started_and_finished_in_each_phase(phase, started, finished):
    state = in_phase(phase)
    assert (state.started, state.finished) == (started, finished)


def test_an_error_page_written_instead_has_started_with_its_status():
    state = ResponseState()
    assert state.fail(503) is True
    assert (state.started, state.finished, state.status) == (True, True, 503)


def test_a_new_machine_awaits_with_no_status_and_nothing_sent():
    state = ResponseState()
    assert (state.phase, state.status, state.bytes_sent) == (Phase.AWAITING, None, 0)


@pytest.mark.parametrize("field", ["phase", "status", "bytes_sent"])
def test_only_events_change_the_fields(field):
    with pytest.raises(AttributeError, match=field):
        setattr(ResponseState(), field, None)


# -- replies ---------------------------------------------------------------------


def test_single_response_starts_writes_and_finishes():
    state = ResponseState()
    actions = state.reply(www.http_response(200, [(b"a", b"1")], b"body"))
    assert actions == [Start(200, [(b"a", b"1")]), Write(b"body"), Finish()]
    assert state.phase is Phase.DONE
    assert state.bytes_sent == 4


def test_a_status_alone_is_a_complete_empty_response():
    # no headers, no content, no more_content: the spec's defaults
    state = ResponseState()
    assert state.reply({"status": 404}) == [Start(404, []), Finish()]
    assert (state.phase, state.status, state.bytes_sent) == (Phase.DONE, 404, 0)


def test_more_content_false_and_empty_content_are_the_defaults_said_out_loud():
    message = {"status": 200, "headers": [], "content": b"", "more_content": False}
    assert ResponseState().reply(message) == [Start(200, []), Finish()]


def test_a_chunk_without_keys_ends_a_streamed_response():
    state = in_phase(Phase.STREAMING)
    assert state.reply({}) == [Finish()]
    assert state.phase is Phase.DONE


def test_streamed_response_goes_through_streaming_until_more_content_is_false():
    state = ResponseState()
    assert state.reply({"status": 200, "content": b"a", "more_content": True}) == [
        Start(200, []),
        Write(b"a"),
    ]
    assert state.phase is Phase.STREAMING
    assert state.reply({"content": b"bc", "more_content": True}) == [Write(b"bc")]
    assert state.reply({"more_content": True}) == []
    assert state.phase is Phase.STREAMING
    assert state.reply({"content": b""}) == [Finish()]
    assert state.bytes_sent == 3


def test_messages_after_the_response_completed_are_ignored():
    state = ResponseState()
    state.reply(www.http_response(204))
    assert state.reply(www.http_response_chunk(b"late")) == []
    assert state.bytes_sent == 0


@pytest.mark.parametrize("message", [{"content": b"x"}, "not a dict", ["status"], None])
def test_first_message_without_status_is_invalid(message):
    with pytest.raises(
        InvalidReply, match=r"^the first response message must have a 'status' key$"
    ):
        ResponseState().reply(message)


def test_second_status_is_invalid():
    state = in_phase(Phase.STREAMING)
    with pytest.raises(
        InvalidReply, match=r"^got a second 'status' for a response already started$"
    ):
        state.reply({"status": 200})


@pytest.mark.parametrize(
    "message, reason",
    [
        ({"content": "x"}, "http.response.chunk key 'content' must be bytes, got str"),
        ({"more_content": 1}, "http.response.chunk key 'more_content' must be bool, got int"),
        ("x", "http.response.chunk message must be a dict, got str"),
    ],
)
def test_malformed_chunks_raise_with_the_reason(message, reason):
    state = in_phase(Phase.STREAMING)
    with pytest.raises(InvalidReply, match=rf"^{reason}$") as raised:
        state.reply(message)
    assert raised.value.__cause__ is None


@pytest.mark.parametrize(
    "message, reason",
    [
        ({"status": "200"}, r"http\.response key 'status' must be int, got str"),
        ({"status": True}, r"http\.response key 'status' must be int, got a bool"),
        ({"status": 200, "content": "text"}, r"key 'content' must be bytes, got str"),
        ({"status": 200, "more_content": "yes"}, r"key 'more_content' must be bool, got str"),
        ({"status": 200, "headers": "x"}, r"key 'headers' must be list or tuple, got str"),
        (
            {"status": 200, "headers": [[b"a"]]},
            r"response header must be a \[name, value\] pair, got \[b'a'\]",
        ),
        (
            {"status": 200, "headers": [(b"a", b"b", b"c")]},
            r"must be a \[name, value\] pair, got \(b'a', b'b', b'c'\)",
        ),
        ({"status": 200, "headers": [b"ab"]}, r"must be a \[name, value\] pair, got b'ab'"),
        (
            {"status": 200, "headers": [[b"a", 1]]},
            r"response header name and value must be bytes, got \[b'a', 1\]",
        ),
        (
            {"status": 200, "headers": [[1, b"a"]]},
            r"response header name and value must be bytes, got \[1, b'a'\]",
        ),
    ],
)
def test_malformed_first_messages_raise_invalid_reply_with_the_reason(message, reason):
    with pytest.raises(InvalidReply, match=reason) as raised:
        ResponseState().reply(message)
    assert raised.value.__cause__ is None


@pytest.mark.parametrize("status", [100, 101, 200, 998, 999])
def test_statuses_from_100_to_999_are_accepted(status):
    assert ResponseState().reply({"status": status})[0] == Start(status, [])


@pytest.mark.parametrize("status", [-1, 0, 99, 1000, 1001])
def test_statuses_outside_100_to_999_are_refused(status):
    state = ResponseState()
    with pytest.raises(InvalidReply, match=rf"^response status must be 100-999, got {status}$"):
        state.reply({"status": status})
    assert (state.phase, state.status) == (Phase.AWAITING, None)


FORBIDDEN_HEADERS = [
    # response splitting through the value
    [b"X-A", b"v\r\nSet-Cookie: evil=1"],
    [b"X-A", b"v\rw"],
    [b"X-A", b"v\nw"],
    # a colon, CR or LF in the name, and an empty name
    [b"X:A", b"v"],
    [b":", b"v"],
    [b"X\rA", b"v"],
    [b"X\nA", b"v"],
    [b"", b"v"],
    ["", "v"],
]


@pytest.mark.parametrize("header", FORBIDDEN_HEADERS)
def test_headers_with_characters_http_forbids_are_refused(header):
    with pytest.raises(InvalidReply, match=r"^response header .* has characters HTTP forbids$"):
        ResponseState().reply({"status": 200, "headers": [[b"Ok", b"1"], header]})


@pytest.mark.parametrize(
    "header",
    [
        [b"X-A", b""],  # an empty value is allowed
        [b"X-A", b"a:b; c=d"],  # so is a colon in the value
        [b"A", b"\t v \x7f"],
    ],
)
def test_headers_http_allows_pass_as_they_are(header):
    assert ResponseState().reply({"status": 200, "headers": [header]})[0] == Start(
        200, [tuple(header)]
    )


def test_str_header_names_and_values_are_encoded_latin1_as_in_1x():
    actions = ResponseState().reply({"status": 200, "headers": [["X-\u00c4", "\u00e9"]]})
    assert actions[0] == Start(200, [(b"X-\xc4", b"\xe9")])


def test_headers_keep_their_order_and_duplicates():
    headers = [(b"Set-Cookie", b"a=1"), (b"X", b"2"), (b"Set-Cookie", b"b=2")]
    assert ResponseState().reply({"status": 200, "headers": headers})[0] == Start(200, headers)


# -- timeouts, failures, the client leaving ------------------------------------------


def test_timeout_only_fails_a_response_that_has_not_started():
    waiting = ResponseState()
    assert waiting.timed_out() is True
    assert waiting.status == 503 and waiting.phase is Phase.DONE
    streaming = in_phase(Phase.STREAMING)
    assert streaming.timed_out() is False
    assert streaming.phase is Phase.STREAMING


def test_fail_after_start_cannot_write_an_error_page():
    state = in_phase(Phase.STREAMING)
    assert state.fail(500) is False
    assert state.finished
    assert state.status == 200


def test_client_gone_twice_is_a_protocol_state_error():
    state = ResponseState()
    assert state.client_gone() is True
    with pytest.raises(IllegalTransition, match=r"'client_gone' in state CLIENT_GONE$"):
        state.client_gone()


# -- request bodies --------------------------------------------------------------------


def cut(body, inline_limit, chunk_size):
    request = RequestBody(io.BytesIO(body), len(body), inline_limit, chunk_size)
    first = request.first()
    chunks = []
    while (chunk := request.next_chunk()) is not None:
        chunks.append(chunk)
    return request, first, chunks


@pytest.mark.parametrize(
    "size, inline_limit, chunk_size, streamed",
    [
        (10, 10, 4, False),  # up to inline_limit: whole in ``body``
        (11, 10, 4, True),
        # a streamed body always leaves one chunk: up to chunk_size stays inline
        (5, 2, 5, False),
        (6, 2, 5, True),
        (0, 0, 1, False),
        (1, 0, 1, False),
        (2, 0, 1, True),
    ],
)
def test_a_body_is_streamed_only_beyond_the_inline_limit_and_one_chunk(
    size, inline_limit, chunk_size, streamed
):
    body = bytes(range(size))
    request, first, chunks = cut(body, inline_limit, chunk_size)
    assert request.streamed is streamed
    if streamed:
        assert first == body[:chunk_size]
        assert chunks and chunks[-1]["more_content"] is False
    else:
        assert (first, chunks, request.remaining) == (body, [], 0)


def test_a_streamed_body_is_cut_into_chunk_size_pieces():
    request, first, chunks = cut(b"abcdefghij", 3, 4)
    assert first == b"abcd"
    assert chunks == [
        www.http_request_body_chunk(b"efgh", more_content=True),
        www.http_request_body_chunk(b"ij", more_content=False),
    ]
    assert (request.position, request.remaining) == (10, 0)
    assert request.next_chunk() is None


def test_remaining_counts_down_as_chunks_are_made():
    request = RequestBody(io.BytesIO(b"abcdefghij"), 10, 3, 4)
    request.first()
    assert request.remaining == 6
    request.next_chunk()
    assert request.remaining == 2


@given(
    body=st.binary(max_size=3000),
    inline_limit=st.integers(0, 1500),
    chunk_size=st.integers(1, 700),
)
def test_request_body_reassembles_exactly_and_only_last_chunk_ends(body, inline_limit, chunk_size):
    request, first, chunks = cut(body, inline_limit, chunk_size)
    for chunk in chunks:
        www.validate("http.request.body", chunk)
    assert first + b"".join(c["content"] for c in chunks) == body
    # the rule, stated independently of the code's own ``streamed`` flag
    if len(body) > max(inline_limit, chunk_size):
        assert len(first) == chunk_size
        assert chunks, "a streamed body always sends at least one chunk"
        assert [c["more_content"] for c in chunks] == [True] * (len(chunks) - 1) + [False]
        assert all(0 < len(c["content"]) <= chunk_size for c in chunks)
    else:
        assert first == body and not chunks


def test_request_body_rejects_a_zero_chunk_size():
    with pytest.raises(ValueError, match=r"^chunk_size must be positive, got 0$"):
        RequestBody(io.BytesIO(b""), 0, 10, 0)


def test_a_body_shorter_than_its_length_is_an_illegal_transition():
    request = RequestBody(io.BytesIO(b"abcdef"), 10, 2, 4)
    assert request.first() == b"abcd"
    assert request.next_chunk() == www.http_request_body_chunk(b"ef", more_content=True)
    with pytest.raises(
        IllegalTransition, match=r"^RequestBody cannot handle 'read' in state at 6/10$"
    ):
        request.next_chunk()


# -- error pages -----------------------------------------------------------------------


def test_error_page_is_html_with_length_and_escaped_detail():
    status, headers, body = error_page(503, "<queue> full")
    assert status == 503
    assert headers == [
        (b"Content-Type", b"text/html; charset=utf-8"),
        (b"Content-Length", str(len(body)).encode()),
    ]
    assert body == (
        b"<html><head><title>503 Service Unavailable</title></head><body>"
        b"<h1>Service Unavailable</h1><p>&lt;queue&gt; full</p><footer>Daphne</footer>"
        b"</body></html>"
    )


@pytest.mark.parametrize(
    "status, phrase",
    [
        (400, b"Bad Request"),
        (403, b"Forbidden"),
        (404, b"Not Found"),
        (408, b"Request Timeout"),
        (413, b"Payload Too Large"),
        (431, b"Request Header Fields Too Large"),
        (500, b"Internal Server Error"),
        (503, b"Service Unavailable"),
        # a status without a phrase of its own
        (502, b"Error"),
        (999, b"Error"),
    ],
)
def test_error_page_titles_carry_the_status_phrase_or_error(status, phrase):
    _, _, body = error_page(status, "detail")
    assert b"<title>%d %s</title>" % (status, phrase) in body
    assert b"<h1>%s</h1>" % phrase in body


def test_error_page_details_are_utf8():
    _, headers, body = error_page(500, "caf\u00e9")
    assert "caf\u00e9".encode() in body
    assert (b"Content-Length", str(len(body)).encode()) in headers
