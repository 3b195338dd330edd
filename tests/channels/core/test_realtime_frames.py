"""The wire format of presence and acknowledged sends, parsed and built in
one place (channels._realtime_frames; docs/topics/realtime.rst)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from channels._realtime_frames import (
    ack_request_frame,
    parse_client_frame,
    presence_diff_frame,
    presence_state_frame,
    reply_frame,
)

pytestmark = pytest.mark.unit

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
ids = st.from_regex(r"\A[A-Za-z0-9_\-]{1,64}\Z")


@given(request_id=ids, payload=json_values, stream=st.none() | st.text(max_size=8))
def test_a_request_frame_parses_back_to_its_id_payload_and_stream(request_id, payload, stream):
    frame = {"payload": payload, "request": request_id}
    if stream is not None:
        frame["stream"] = stream
    assert parse_client_frame(json.dumps(frame)) == (
        "request",
        {"request": request_id, "payload": payload, "stream": stream},
    )


@given(payload=json_values)
def test_frames_that_are_not_ours_are_left_alone(payload):
    text = json.dumps({"data": payload})
    if '"ack"' in text or '"request"' in text or '"heartbeat"' in text:
        return
    assert parse_client_frame(text) is None


@pytest.mark.parametrize(
    "text",
    [None, "", "plain text", "[1, 2]", '{"ack": "a", "extra": 1}', '{"request": "r"}', "{bad json"],
)
def test_near_misses_pass_through_unparsed(text):
    assert parse_client_frame(text) is None


def test_an_ack_and_a_heartbeat_are_recognised():
    assert parse_client_frame('{"ack": "abc"}') == ("ack", {"ack": "abc"})
    assert parse_client_frame('{"presence": "room", "heartbeat": true}') == (
        "heartbeat",
        {"presence": "room"},
    )


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('{"ack": 5}', "'ack' id of a frame must be"),
        ('{"ack": "has space"}', "'ack' id of a frame must be"),
        ('{"request": "' + "r" * 65 + '", "payload": 1}', "'request' id of a frame must be"),
        ('{"request": "r", "payload": 1, "stream": 3}', "stream must be a string"),
        ('{"presence": ["x"], "heartbeat": true}', "names its presence as a string"),
    ],
)
def test_broken_frames_of_ours_raise_saying_what_was_expected(text, error):
    with pytest.raises(ValueError, match=error):
        parse_client_frame(text)


def test_server_frames_are_compact_json_text_frames():
    members = {"ann": {"metas": [{"user": "ann", "ref": "r1"}]}}
    assert json.loads(presence_state_frame("room", members, 60)["text"]) == {
        "presence": "room",
        "state": members,
        "ttl": 60,
    }
    assert json.loads(presence_diff_frame("room", {}, members)["text"]) == {
        "presence": "room",
        "joins": {},
        "leaves": members,
    }
    assert json.loads(ack_request_frame("a1", [1], "news")["text"]) == {
        "payload": [1],
        "ack_request": "a1",
        "stream": "news",
    }
    assert json.loads(reply_frame("r1", error="no")["text"]) == {"reply": "r1", "error": "no"}
    assert json.loads(reply_frame("r1", None)["text"]) == {"reply": "r1", "payload": None}
    assert " " not in presence_diff_frame("room", {}, {})["text"]
