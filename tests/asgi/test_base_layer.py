"""Name rules, capacity patterns and size limits shared by every layer."""

import re
import warnings

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asgi.base_layer import MAX_NAME_LENGTH, BaseChannelLayer
from asgi.exceptions import ChannelFull, InvalidChannelName, MessageTooLarge
from asgi.inmemory import ChannelLayer

pytestmark = pytest.mark.unit

layer = BaseChannelLayer()
name_chars = st.text(alphabet="abcXYZ019-_.", min_size=1, max_size=40)


@given(name_chars)
def test_plain_ascii_names_are_valid_channels_and_groups(name):
    assert layer.valid_channel_name(name)
    assert layer.valid_group_name(name)


@given(name_chars, name_chars)
def test_process_specific_names_are_valid_but_received_by_prefix(prefix, local):
    assert layer.valid_channel_name(f"{prefix}!{local}")
    assert layer.valid_channel_name(f"{prefix}!", receive=True)
    with pytest.raises(InvalidChannelName, match="prefix"):
        layer.valid_channel_name(f"{prefix}!{local}", receive=True)
    assert layer.non_local_name(f"{prefix}!{local}") == f"{prefix}!"


@given(name_chars)
def test_non_local_name_of_a_normal_channel_is_the_name(name):
    assert layer.non_local_name(name) == name


@given(st.text(min_size=1, max_size=20).filter(lambda s: re.search(r"[^a-zA-Z0-9_.\-]", s)))
def test_group_names_with_other_characters_raise_type_error(name):
    with pytest.raises(TypeError, match="Group name"):
        layer.valid_group_name(name)


def test_names_at_the_length_limit_are_rejected():
    assert layer.valid_channel_name("a" * (MAX_NAME_LENGTH - 1))
    with pytest.raises(TypeError, match="shorter than 100"):
        layer.valid_channel_name("a" * MAX_NAME_LENGTH)


def test_a_name_ending_in_question_mark_is_only_a_pattern():
    with pytest.raises(TypeError, match="new_channel"):
        layer.valid_channel_name("http.request.body?")


def test_receive_takes_a_non_empty_list():
    with pytest.raises(TypeError, match="non-empty list"):
        layer.valid_channel_names([])
    with pytest.raises(TypeError, match="non-empty list"):
        layer.valid_channel_names("channel")


def test_capacity_patterns_accept_globs_and_regexes_and_the_first_match_wins():
    configured = BaseChannelLayer(
        capacity=7,
        channel_capacity={"http.response!*": 50, re.compile(r"^websocket\.send!.+"): 20, "*": 3},
    )
    assert configured.get_capacity("http.response!abc") == 50
    assert configured.get_capacity("websocket.send!abc") == 20
    assert configured.get_capacity("other") == 3
    assert BaseChannelLayer(capacity=7).get_capacity("other") == 7


def test_capacity_patterns_reject_bad_keys_and_values():
    with pytest.raises(TypeError, match="glob strings or compiled regexes"):
        BaseChannelLayer(channel_capacity={1: 3})
    with pytest.raises(ValueError, match="positive int"):
        BaseChannelLayer(channel_capacity={"a*": 0})


def test_max_message_size_below_the_spec_minimum_is_refused():
    with pytest.raises(ValueError, match="at least 1 MiB"):
        BaseChannelLayer(max_message_size=1000)


def test_check_message_size_names_the_limit():
    with pytest.raises(MessageTooLarge, match="max_message_size is 1048576"):
        BaseChannelLayer(max_message_size=1024 * 1024).check_message_size(2 * 1024 * 1024, "c")


def test_exceptions_are_reachable_from_every_layer():
    assert ChannelLayer.ChannelFull is ChannelFull
    assert BaseChannelLayer().MessageTooLarge is MessageTooLarge


def test_receive_many_warns_and_receives():
    inmemory = ChannelLayer()
    inmemory.send("rm_test", {"a": 1})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert inmemory.receive_many(["rm_test"]) == ("rm_test", {"a": 1})
    assert caught[0].category is DeprecationWarning
