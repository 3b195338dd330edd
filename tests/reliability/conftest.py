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
