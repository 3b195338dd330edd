"""The WebSocket state machine on every (phase, event) pair.

See docs/asgi/www.rst, "WebSocket".

Replies are written as raw dicts where a builder would hide a default
(``close: 0``, ``accept: None``): the machine must read what the
application actually sent.
"""

import pytest

from asgi import www
from daphne._ws_state import Accept, Close, Phase, Reject, Send, WebSocketState
from daphne.exceptions import IllegalTransition, InvalidReply, ProtocolStateError

pytestmark = pytest.mark.unit

TIMED_OUT = Reject(403, "Application did not answer the connection in time")
DENIED = Reject(403, "Access denied")
UNAVAILABLE = Reject(503, "Server unavailable")


def in_phase(phase):
    """A machine driven into ``phase`` through its events only."""
    state = WebSocketState()
    if phase in (Phase.OPEN, Phase.CLOSING):
        state.reply({"accept": True})
    if phase is Phase.CLOSING:
        state.close(1000)
    if phase is Phase.REJECTED:
        state.reply({"accept": False})
    if phase is Phase.CLOSED:
        state.closed(1000)
    assert state.phase is phase
    return state


# -- every (phase, event) pair ---------------------------------------------------

EVENTS = {
    "reply": lambda state: state.reply({"text": "hi"}),
    "close": lambda state: state.close(4000),
    "connect_not_sent": lambda state: state.connect_not_sent(503, "Layer full"),
    "connect_timed_out": lambda state: state.connect_timed_out(),
    "opened": lambda state: state.opened(),
    "frame_received": lambda state: state.frame_received(),
    "closed": lambda state: state.closed(4444),
    "reaped": lambda state: state.reaped(),
}

RAISES = object()

#: (phase, event) -> (result, phase after, disconnect_reported after), or RAISES.
TABLE = {
    (Phase.CONNECTING, "reply"): ([Accept(), Send("hi")], Phase.OPEN, False),
    (Phase.CONNECTING, "close"): ([DENIED], Phase.REJECTED, False),
    (Phase.CONNECTING, "connect_not_sent"): ([Reject(503, "Layer full")], Phase.REJECTED, True),
    (Phase.CONNECTING, "connect_timed_out"): ([TIMED_OUT], Phase.REJECTED, False),
    (Phase.CONNECTING, "opened"): RAISES,
    (Phase.CONNECTING, "frame_received"): RAISES,
    (Phase.CONNECTING, "closed"): ({"code": 4444, "order": 1}, Phase.CLOSED, True),
    (Phase.CONNECTING, "reaped"): ([UNAVAILABLE], Phase.REJECTED, True),
    (Phase.OPEN, "reply"): ([Send("hi")], Phase.OPEN, False),
    (Phase.OPEN, "close"): ([Close(4000)], Phase.CLOSING, False),
    (Phase.OPEN, "connect_not_sent"): ([], Phase.OPEN, False),
    (Phase.OPEN, "connect_timed_out"): RAISES,
    (Phase.OPEN, "opened"): (None, Phase.OPEN, False),
    (Phase.OPEN, "frame_received"): (1, Phase.OPEN, False),
    (Phase.OPEN, "closed"): ({"code": 4444, "order": 1}, Phase.CLOSED, True),
    (Phase.OPEN, "reaped"): ([Close(1013)], Phase.CLOSING, True),
    (Phase.CLOSING, "reply"): ([], Phase.CLOSING, False),
    (Phase.CLOSING, "close"): ([], Phase.CLOSING, False),
    (Phase.CLOSING, "connect_not_sent"): ([], Phase.CLOSING, False),
    (Phase.CLOSING, "connect_timed_out"): RAISES,
    (Phase.CLOSING, "opened"): (None, Phase.CLOSING, False),
    (Phase.CLOSING, "frame_received"): (None, Phase.CLOSING, False),
    # the server's own close code wins over the client's
    (Phase.CLOSING, "closed"): ({"code": 1000, "order": 1}, Phase.CLOSED, True),
    (Phase.CLOSING, "reaped"): ([], Phase.CLOSING, True),
    (Phase.REJECTED, "reply"): ([], Phase.REJECTED, False),
    (Phase.REJECTED, "close"): ([], Phase.REJECTED, False),
    (Phase.REJECTED, "connect_not_sent"): ([], Phase.REJECTED, True),
    (Phase.REJECTED, "connect_timed_out"): RAISES,
    (Phase.REJECTED, "opened"): RAISES,
    (Phase.REJECTED, "frame_received"): RAISES,
    (Phase.REJECTED, "closed"): ({"code": 4444, "order": 1}, Phase.CLOSED, True),
    (Phase.REJECTED, "reaped"): ([], Phase.REJECTED, True),
    (Phase.CLOSED, "reply"): ([], Phase.CLOSED, True),
    (Phase.CLOSED, "close"): ([], Phase.CLOSED, True),
    (Phase.CLOSED, "connect_not_sent"): ([], Phase.CLOSED, True),
    (Phase.CLOSED, "connect_timed_out"): RAISES,
    (Phase.CLOSED, "opened"): RAISES,
    (Phase.CLOSED, "frame_received"): RAISES,
    (Phase.CLOSED, "closed"): (None, Phase.CLOSED, True),
    (Phase.CLOSED, "reaped"): ([], Phase.CLOSED, True),
}


def test_the_table_covers_every_phase_and_event():
    assert set(TABLE) == {(phase, event) for phase in Phase for event in EVENTS}


ALLOWED = [pair for pair, outcome in TABLE.items() if outcome is not RAISES]
REFUSED = [pair for pair, outcome in TABLE.items() if outcome is RAISES]


@pytest.mark.parametrize("phase, event", ALLOWED)
def test_an_expected_event_does_what_the_table_says(phase, event):
    result, after, reported = TABLE[phase, event]
    state = in_phase(phase)
    assert EVENTS[event](state) == result
    assert state.phase is after
    assert state.disconnect_reported is reported


@pytest.mark.parametrize("phase, event", REFUSED)
def test_an_unexpected_event_raises_naming_the_event_and_the_phase(phase, event):
    state = in_phase(phase)
    received, reported = state.received, state.disconnect_reported
    with pytest.raises(
        ProtocolStateError, match=rf"^WebSocketState cannot handle '{event}' in state {phase.name}$"
    ) as raised:
        EVENTS[event](state)
    assert (raised.value.phase, raised.value.state, raised.value.event) == (phase, phase, event)
    assert raised.value.machine == "WebSocketState"
    # nothing changed
    assert (state.phase, state.received, state.disconnect_reported) == (phase, received, reported)


def test_a_protocol_state_error_is_an_illegal_transition():
    with pytest.raises(IllegalTransition, match="'opened' in state CONNECTING"):
        WebSocketState().opened()


# -- replies ---------------------------------------------------------------------

HANDSHAKE_CASES = [
    ({"accept": True}, [Accept()], Phase.OPEN),
    ({"accept": False}, [DENIED], Phase.REJECTED),
    ({"accept": False, "text": "ignored"}, [DENIED], Phase.REJECTED),
    ({"accept": False, "close": 4001}, [DENIED], Phase.REJECTED),
    ({"text": "hi"}, [Accept(), Send("hi")], Phase.OPEN),
    ({"text": ""}, [Accept(), Send("")], Phase.OPEN),
    ({"bytes": b""}, [Accept(), Send(b"")], Phase.OPEN),
    ({"close": True}, [DENIED], Phase.REJECTED),
    ({"close": 1}, [DENIED], Phase.REJECTED),
    ({"close": 4001}, [DENIED], Phase.REJECTED),
    ({"text": "bye", "close": 4001}, [Accept(), Send("bye"), Close(4001)], Phase.CLOSING),
    ({"accept": True, "close": True}, [Accept(), Close(1000)], Phase.CLOSING),
    ({"accept": True, "close": 0}, [Accept()], Phase.OPEN),
    ({"accept": True, "close": False}, [Accept()], Phase.OPEN),
    # close 0 or False is "no close"; an accept of None is "not said"
    ({"close": 0}, [], Phase.CONNECTING),
    ({"close": False}, [], Phase.CONNECTING),
    ({"accept": None}, [], Phase.CONNECTING),
    ({"text": None, "bytes": None}, [], Phase.CONNECTING),
    ({}, [], Phase.CONNECTING),
]


@pytest.mark.parametrize("message, actions, phase", HANDSHAKE_CASES)
def test_replies_during_the_handshake(message, actions, phase):
    state = WebSocketState()
    assert state.reply(message) == actions
    assert state.phase is phase


def test_the_builder_makes_the_same_replies_as_raw_dicts():
    assert WebSocketState().reply(www.websocket_reply(text="bye", close=4001)) == [
        Accept(),
        Send("bye"),
        Close(4001),
    ]


OPEN_CASES = [
    ({"text": "t"}, [Send("t")], Phase.OPEN),
    ({"text": ""}, [Send("")], Phase.OPEN),
    ({"bytes": b"\x00"}, [Send(b"\x00")], Phase.OPEN),
    ({"accept": False}, [], Phase.OPEN),
    ({"accept": True}, [], Phase.OPEN),
    ({"close": 0}, [], Phase.OPEN),
    ({"text": "t", "close": False}, [Send("t")], Phase.OPEN),
    ({"close": True}, [Close(1000)], Phase.CLOSING),
    ({"close": 1}, [Close(1)], Phase.CLOSING),
    ({"bytes": b"b", "close": 4002}, [Send(b"b"), Close(4002)], Phase.CLOSING),
]


@pytest.mark.parametrize("message, actions, phase", OPEN_CASES)
def test_replies_once_open_ignore_accept(message, actions, phase):
    state = in_phase(Phase.OPEN)
    assert state.reply(message) == actions
    assert state.phase is phase


@pytest.mark.parametrize("phase", [Phase.CLOSING, Phase.REJECTED, Phase.CLOSED])
def test_replies_after_close_or_reject_are_ignored(phase):
    state = in_phase(phase)
    assert state.reply({"text": "late", "close": True}) == []
    assert state.phase is phase


MALFORMED = [
    ({"text": "a", "bytes": b"b"}, "has both text and bytes; send one"),
    ({"text": 1}, "key 'text' must be str or None, got int"),
    ({"bytes": "s"}, "key 'bytes' must be bytes or None, got str"),
    ({"accept": 1}, "key 'accept' must be bool or None, got int"),
    ({"close": -1}, "close must be a bool or a positive int, got -1"),
    ({"close": "1000"}, "key 'close' must be bool or int, got str"),
    ({"unknown": 1}, r"unknown keys \['unknown'\]"),
    ("x", "message must be a dict, got str"),
]


@pytest.mark.parametrize("phase", [Phase.CONNECTING, Phase.OPEN, Phase.CLOSED])
@pytest.mark.parametrize("message, reason", MALFORMED)
def test_malformed_replies_raise_invalid_reply_with_the_reason(phase, message, reason):
    state = in_phase(phase)
    with pytest.raises(InvalidReply, match=rf"^websocket\.send .*{reason}") as raised:
        state.reply(message)
    assert raised.value.__cause__ is None
    assert state.phase is phase


# -- server-side close -------------------------------------------------------------


@pytest.mark.parametrize(
    "code, actions",
    [
        (1001, [UNAVAILABLE]),
        (1013, [UNAVAILABLE]),
        # neighbours of the two server-side codes are refusals
        (1000, [DENIED]),
        (1002, [DENIED]),
        (1012, [DENIED]),
        (1014, [DENIED]),
        (1011, [DENIED]),
    ],
)
def test_a_server_side_close_refuses_a_pending_handshake(code, actions):
    state = WebSocketState()
    assert state.close(code) == actions
    assert state.phase is Phase.REJECTED
    assert state.close_code is None  # no close frame was sent


def test_close_code_is_the_code_of_the_close_frame_sent():
    state = in_phase(Phase.OPEN)
    assert state.close_code is None
    assert state.close(4005) == [Close(4005)]
    assert state.close_code == 4005
    assert state.close(1001) == []
    assert state.close_code == 4005  # the first close frame is the one sent


def test_a_close_in_a_reply_sets_close_code():
    state = in_phase(Phase.OPEN)
    state.reply({"close": 4321})
    assert state.close_code == 4321


@pytest.mark.parametrize(
    "server, client, reported",
    [
        (None, 4001, 4001),  # the client's close frame
        (None, None, 1006),  # no close frame at all
        (4002, 4001, 4002),  # the server's close frame wins
        (4002, None, 4002),
    ],
)
def test_the_disconnect_code_is_the_servers_then_the_clients_then_1006(server, client, reported):
    state = in_phase(Phase.OPEN)
    if server is not None:
        state.close(server)
    assert state.closed(client) == {"code": reported, "order": 1}


# -- frames and the disconnect -----------------------------------------------------


def test_frames_count_order_from_one_while_open_and_are_dropped_while_closing():
    state = in_phase(Phase.OPEN)
    assert state.received == 0
    assert [state.frame_received() for _ in range(3)] == [1, 2, 3]
    assert state.received == 3
    state.close(1000)
    assert state.frame_received() is None
    assert state.received == 3


def test_disconnect_is_reported_exactly_once_with_order_after_last_receive():
    state = in_phase(Phase.OPEN)
    state.frame_received()
    state.frame_received()
    assert state.closed(1000) == {"code": 1000, "order": 3}
    assert state.closed(1000) is None
    assert state.phase is Phase.CLOSED


def test_a_socket_closed_before_the_handshake_reports_1006_with_order_1():
    assert WebSocketState().closed(None) == {"code": 1006, "order": 1}


def test_a_connect_the_layer_refused_is_never_reported_disconnected():
    state = WebSocketState()
    assert state.connect_not_sent(500, "Internal server error") == [
        Reject(500, "Internal server error")
    ]
    assert state.closed(1000) is None


def test_a_connect_refused_after_the_timeout_is_not_reported_either():
    state = WebSocketState()
    assert state.connect_timed_out() == [TIMED_OUT]
    assert state.disconnect_reported is False
    state.connect_not_sent(503, "Service unavailable")
    assert state.closed(None) is None


def test_a_socket_reported_gone_by_a_survivor_closes_1013_and_reports_no_disconnect():
    state = in_phase(Phase.OPEN)
    state.frame_received()
    assert state.reaped() == [Close(1013)]
    assert state.phase is Phase.CLOSING and state.close_code == 1013
    assert state.closed(1013) is None  # the survivor's 1006 was the one disconnect


@pytest.mark.parametrize("phase", [Phase.CLOSING, Phase.CLOSED])
def test_a_reaped_socket_already_closing_reports_no_disconnect_either(phase):
    state = in_phase(phase)
    assert state.reaped() == []
    assert state.closed(1000) is None


def test_a_new_machine_is_connecting_with_nothing_received_or_reported():
    state = WebSocketState()
    assert (state.phase, state.received, state.disconnect_reported, state.close_code) == (
        Phase.CONNECTING,
        0,
        False,
        None,
    )


@pytest.mark.parametrize("field", ["phase", "received", "disconnect_reported", "close_code"])
def test_only_events_change_the_fields(field):
    with pytest.raises(AttributeError, match=field):
        setattr(WebSocketState(), field, None)
