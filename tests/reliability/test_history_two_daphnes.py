"""Group history across two daphne processes on one real Redis (issue #26):
members on both daphnes get a group's messages with the same increasing
offsets; a socket that closed and reconnects on the other daphne with its
last offset gets exactly what it missed, in order, before anything new; one
that asks from further back than the group keeps gets the gap.

See docs/topics/history.rst (the wire format checked here) and
tests/reliability/project/history.py (the consumers).
"""

from __future__ import annotations

import contextlib
import json

import pytest
from websockets.sync.client import connect

from tests.reliability.project.history import SIZE

pytestmark = pytest.mark.integration

GROUP = "hist.lobby"
PATH = "/history/lobby/"


def numbered(ws, count: int) -> list[tuple[int, str]]:
    """The next ``count`` frames of ``ws``, each a numbered frame of GROUP: ``(offset, text)``."""
    frames = []
    for _ in range(count):
        frame = json.loads(ws.recv(timeout=15))
        assert set(frame) == {"history", "text"}, frame
        assert frame["history"] == {"group": GROUP, "offset": frame["history"]["offset"]}, frame
        assert isinstance(frame["history"]["offset"], int), frame
        frames.append((frame["history"]["offset"], frame["text"]))
    return frames


def resume_url(base: str, after: int) -> str:
    return f"{base}{PATH}?channels_history={GROUP}:{after}"


def test_history_resumes_on_the_other_daphne_and_reports_a_gap(make_stack, redis_url):
    stack = make_stack([redis_url], workers=1, daphne_args=("-t", "30"), env={"REL_HISTORY": "1"})
    second, port = stack.start_another_daphne()
    second_url = f"ws://127.0.0.1:{port}"
    try:
        with contextlib.ExitStack() as sockets:
            ann = sockets.enter_context(connect(stack.ws_url + PATH, open_timeout=20))
            bob = sockets.enter_context(connect(second_url + PATH, open_timeout=20))

            # both members, one on each daphne, get the same numbered frames
            for text in ("m1", "m2", "m3"):
                ann.send(text)
            seen_by_ann = numbered(ann, 3)
            seen_by_bob = numbered(bob, 3)
            assert [text for _, text in seen_by_ann] == ["m1", "m2", "m3"]
            assert seen_by_bob == seen_by_ann
            offsets = [offset for offset, _ in seen_by_ann]
            assert offsets == list(range(offsets[0], offsets[0] + 3)), offsets
            bob_last = offsets[-1]

            # bob goes away; ann goes on sending
            bob.close()
            missed_texts = ["m4", "m5", "m6", "m7"]
            for text in missed_texts:
                ann.send(text)
            missed = numbered(ann, len(missed_texts))
            assert [text for _, text in missed] == missed_texts
            assert [offset for offset, _ in missed] == list(range(bob_last + 1, bob_last + 5))

            # bob comes back on the FIRST daphne with the last offset it saw: the
            # first frame is the resume, exactly the missed frames in order
            bob = sockets.enter_context(
                connect(resume_url(stack.ws_url, bob_last), open_timeout=20)
            )
            resume = json.loads(bob.recv(timeout=15))
            assert resume == {
                "history": {
                    "group": GROUP,
                    "after": bob_last,
                    "last": missed[-1][0],
                    "gap": False,
                    "more": False,
                },
                "missed": [[offset, text] for offset, text in missed],
            }
            # then new messages, numbered on, with no copy of a missed one
            ann.send("m8")
            assert numbered(bob, 1) == [(missed[-1][0] + 1, "m8")]
            assert numbered(ann, 1) == [(missed[-1][0] + 1, "m8")]
            last = missed[-1][0] + 1

            # a socket asking from before what the group keeps (its last SIZE
            # frames) gets the gap and what is kept, on the second daphne
            cyd = sockets.enter_context(
                connect(resume_url(second_url, offsets[0]), open_timeout=20)
            )
            gap = json.loads(cyd.recv(timeout=15))
            kept = list(range(last - SIZE + 1, last + 1))
            assert kept[0] > offsets[0] + 1  # the test sent past the history
            everything = dict([*seen_by_ann, *missed, (last, "m8")])
            assert gap == {
                "history": {
                    "group": GROUP,
                    "after": offsets[0],
                    "last": last,
                    "gap": True,
                    "more": False,
                },
                "missed": [[offset, everything[offset]] for offset in kept],
            }
            # and it is a member now: the next send reaches it, numbered on
            ann.send("m9")
            assert numbered(cyd, 1) == [(last + 1, "m9")]
            assert numbered(bob, 1) == [(last + 1, "m9")]
    except TimeoutError:
        raise AssertionError(
            f"an expected frame never came:\n{stack.logs()}\n--- daphne2\n{second.output()[-3000:]}"
        ) from None
    finally:
        second.kill()
