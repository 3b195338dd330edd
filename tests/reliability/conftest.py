"""Fixtures of the reliability tests: stacks of real processes that always stop."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.support.stack import Stack


@pytest.fixture
def make_stack() -> Iterator[Callable[..., Stack]]:
    """Build and start a ``Stack``; every one built is stopped after the test."""
    stacks: list[Stack] = []

    def make(hosts: list[str], **kwargs) -> Stack:
        stack = Stack(hosts, **kwargs)
        stacks.append(stack)
        return stack.start()

    yield make
    for stack in stacks:
        stack.stop()


@pytest.fixture(scope="module")
def shared_stack(redis_url: str) -> Iterator[Stack]:
    """One daphne and one worker on the session Redis, for tests that do not break processes."""
    stack = Stack([redis_url], workers=1, daphne_args=("-t", "10")).start()
    yield stack
    stack.stop()
