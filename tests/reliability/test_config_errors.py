"""Configuration mistakes stop daphne and runworker at start with one clear line and a non-zero exit."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.redis import free_port
from tests.support.stack import ROOT, SETTINGS

pytestmark = pytest.mark.integration

DAPHNE = ["-m", "daphne", "-p", "0", "tests.reliability.project.asgi:channel_layer"]
WORKER = ["-m", "django", "runworker"]


def run(command: list[str], **env: str) -> tuple[int, str]:
    environment = dict(os.environ, DJANGO_SETTINGS_MODULE=SETTINGS, PYTHONPATH=str(ROOT), **env)
    environment.pop("REDIS_URL", None)
    result = subprocess.run(
        [sys.executable, *command],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result.returncode, (result.stdout + result.stderr).strip()


def assert_one_clear_line(output: str, *needles: str) -> None:
    assert "Traceback" not in output, output
    lines = [line for line in output.splitlines() if "error" in line.lower()]
    assert len(lines) == 1, output
    for needle in needles:
        assert needle in lines[0], output


@pytest.mark.parametrize("command", [DAPHNE, WORKER], ids=["daphne", "runworker"])
def test_an_unreachable_redis_fails_at_start(command):
    port = free_port()
    code, output = run(command, REL_REDIS_HOSTS=f"redis://127.0.0.1:{port}/0")
    assert code != 0
    assert_one_clear_line(output, f"127.0.0.1:{port}", "unreachable")


@pytest.mark.parametrize("command", [DAPHNE, WORKER], ids=["daphne", "runworker"])
def test_a_wrong_redis_password_fails_at_start_without_showing_it(command, make_redis_server):
    redis = make_redis_server("--requirepass", "right-password")
    code, output = run(command, REL_REDIS_HOSTS=f"redis://:wrong-password@127.0.0.1:{redis.port}/0")
    assert code != 0
    assert_one_clear_line(output, "refused the credentials")
    assert "wrong-password" not in output


@pytest.mark.parametrize("command", [DAPHNE, WORKER], ids=["daphne", "runworker"])
def test_a_wrong_layer_backend_path_fails_at_start(command, redis_url):
    code, output = run(command, REL_REDIS_HOSTS=redis_url, REL_BACKEND="no_such.module.Layer")
    assert code != 0
    assert_one_clear_line(output, "no_such.module.Layer")


def test_a_wrong_daphne_layer_argument_fails_at_start(redis_url):
    code, output = run(
        ["-m", "daphne", "-p", "0", "tests.reliability.project.asgi:no_layer_here"],
        REL_REDIS_HOSTS=redis_url,
    )
    assert code != 0
    assert_one_clear_line(output, "no_layer_here")


@pytest.mark.parametrize("command", [DAPHNE, WORKER], ids=["daphne", "runworker"])
def test_missing_routing_fails_at_start_and_names_the_setting(command, redis_url):
    code, output = run(command, REL_REDIS_HOSTS=redis_url, REL_NO_ROUTING="1")
    assert code != 0
    assert "Traceback" not in output, output
    assert "has no ROUTING" in output, output
