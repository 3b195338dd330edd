"""The WebSocket state machine on every (state, event) pair.

See docs/asgi/www.rst, "WebSocket".
"""

import pytest

from asgi import www
from daphne._ws_state import Accept, Close, Phase, Reject, Send, WebSocketState
from daphne.exceptions import IllegalTransition, InvalidReply


def in_phase(phase):
    state = WebSocketState()
    if phase in (Phase.OPEN, Phase.CLOSING):
        state.reply(www.websocket_reply(accept=True))
    if phase is Phase.CLOSING:
        state.close(1000)
    if phase is Phase.REJECTED:
        state.reply(www.websocket_reply(accept=False))
    if phase is Phase.CLOSED:
        state.closed(1000)
    assert state.phase is phase
    return state


HANDSHAKE_CASES = [
    (www.websocket_reply(accept=True), [Accept()], Phase.OPEN),
    (www.websocket_reply(accept=False), [Reject(403, "Access denied")], Phase.REJECTED),
    (
        www.websocket_reply(accept=False, text="ignored"),
        [Reject(403, "Access denied")],
        Phase.REJECTED,
    ),
    (www.websocket_reply(text="hi"), [Accept(), Send("hi")], Phase.OPEN),
    (www.websocket_reply(bytes=b""), [Accept(), Send(b"")], Phase.OPEN),
    (www.websocket_reply(close=True), [Reject(403, "Access denied")], Phase.REJECTED),
    (www.websocket_reply(close=4001), [Reject(403, "Access denied")], Phase.REJECTED),
    (
        www.websocket_reply(text="bye", close=4001),
        [Accept(), Send("bye"), Close(4001)],
        Phase.CLOSING,
    ),
    (www.websocket_reply(accept=True, close=True), [Accept(), Close(1000)], Phase.CLOSING),
    ({}, [], Phase.CONNECTING),
]


@pytest.mark.parametrize("message, actions, phase", HANDSHAKE_CASES)
def test_replies_during_the_handshake(message, actions, phase):
    state = WebSocketState()
    assert state.reply(message) == actions
    assert state.phase is phase


OPEN_CASES = [
    (www.websocket_reply(text="t"), [Send("t")], Phase.OPEN),
    (www.websocket_reply(text=""), [Send("")], Phase.OPEN),
    (www.websocket_reply(bytes=b"\x00"), [Send(b"\x00")], Phase.OPEN),
    (www.websocket_reply(accept=False), [], Phase.OPEN),
    (www.websocket_reply(close=True), [Close(1000)], Phase.CLOSING),
    (www.websocket_reply(bytes=b"b", close=4002), [Send(b"b"), Close(4002)], Phase.CLOSING),
]


@pytest.mark.parametrize("message, actions, phase", OPEN_CASES)
def test_replies_once_open_ignore_accept(message, actions, phase):
    state = in_phase(Phase.OPEN)
    assert state.reply(message) == actions
    assert state.phase is phase


@pytest.mark.parametrize("phase", [Phase.CLOSING, Phase.REJECTED, Phase.CLOSED])
def test_replies_after_close_or_reject_are_ignored(phase):
    state = in_phase(phase)
    assert state.reply(www.websocket_reply(text="late", close=True)) == []


@pytest.mark.parametrize(
    "message",
    [{"text": "a", "bytes": b"b"}, {"text": 1}, {"close": -1}, {"unknown": 1}, "x"],
)
def test_malformed_replies_raise_invalid_reply(message):
    with pytest.raises(InvalidReply):
        WebSocketState().reply(message)


@pytest.mark.parametrize(
    "phase, code, actions",
    [
        (Phase.CONNECTING, 1001, [Reject(503, "Server unavailable")]),
        (Phase.CONNECTING, 1013, [Reject(503, "Server unavailable")]),
        (Phase.CONNECTING, 1000, [Reject(403, "Access denied")]),
        (Phase.OPEN, 1001, [Close(1001)]),
        (Phase.CLOSING, 1001, []),
        (Phase.REJECTED, 1001, []),
        (Phase.CLOSED, 1001, []),
    ],
)
def test_server_side_close_in_every_phase(phase, code, actions):
    assert in_phase(phase).close(code) == actions


def test_connect_timeout_rejects_only_a_pending_handshake():
    assert WebSocketState().connect_timed_out()[0].status == 403
    assert in_phase(Phase.OPEN).connect_timed_out() == []


def test_frames_count_order_from_one_and_only_while_open():
    assert WebSocketState().frame_received() is None
    state = in_phase(Phase.OPEN)
    assert [state.frame_received() for _ in range(3)] == [1, 2, 3]
    state.close(1000)
    assert state.frame_received() is None


def test_disconnect_is_reported_exactly_once_with_order_after_last_receive():
    state = in_phase(Phase.OPEN)
    state.frame_received()
    assert state.closed(1000) == {"code": 1000, "order": 2}
    assert state.closed(1000) is None
    assert state.phase is Phase.CLOSED


def test_a_socket_closed_without_code_reports_1006():
    assert WebSocketState().closed(None) == {"code": 1006, "order": 1}


def test_opened_is_illegal_before_accept():
    with pytest.raises(IllegalTransition, match="CONNECTING"):
        WebSocketState().opened()


CONNECT_NOT_SENT_CASES = [
    (Phase.CONNECTING, [Reject(503, "Service unavailable")], Phase.REJECTED, True),
    (Phase.REJECTED, [], Phase.REJECTED, True),
    (Phase.OPEN, [], Phase.OPEN, False),
    (Phase.CLOSING, [], Phase.CLOSING, False),
    (Phase.CLOSED, [], Phase.CLOSED, True),
]


@pytest.mark.parametrize("phase, actions, after, reported", CONNECT_NOT_SENT_CASES)
def test_a_connect_the_layer_refused_rejects_a_pending_handshake_and_reports_no_disconnect(
    phase, actions, after, reported
):
    state = in_phase(phase)
    assert state.connect_not_sent(503, "Service unavailable") == actions
    assert state.phase is after
    # True: no websocket.disconnect will be (or was already) reported
    assert state.disconnect_reported is reported


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
