"""daphne serves again once Redis is back, however many requests met the outage.

Found by the soak: every request during an outage dialled a new reactor
connection, each counted against redis-py's pool limit and never handed
back, so after about a hundred daphne answered 503 for ever.
"""

import time

import httpx
import pytest

from tests.support.load import HttpLoad

pytestmark = pytest.mark.integration


def _status(url: str) -> int | str:
    try:
        return httpx.get(url, timeout=10).status_code
    except httpx.HTTPError as exc:
        return type(exc).__name__


def test_daphne_serves_again_after_redis_was_down_for_seconds_under_http_load(
    make_redis_server, make_stack
):
    redis = make_redis_server()
    stack = make_stack([redis.url], workers=2, daphne_args=("-t", "5"))
    load = HttpLoad(stack.url + "/hello/", threads=2, pause=0.01).start()
    time.sleep(1)
    redis.kill()
    time.sleep(2.5)
    redis.start()
    deadline = time.monotonic() + 10
    statuses = []
    while time.monotonic() < deadline and statuses[-1:] != [200]:
        statuses.append(_status(stack.url + "/hello/"))
        time.sleep(0.2)
    load.stop()

    assert statuses[-1] == 200, f"still {statuses[-5:]} 10 s after Redis came back"
