"""Property tests of the delay server's parsing and storage codec."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asgi.inmemory import ChannelLayer
from channels.delay.models import decode_content, encode_content
from channels.delay.worker import InvalidDelayMessage, parse_delay_message

pytestmark = pytest.mark.unit

# Keys include the codec's own tag names, which user content may also use.
keys = st.sampled_from(["__bytes__", "__escaped__"]) | st.text(max_size=8)
scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text() | st.binary()
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=12,
)
contents = st.dictionaries(keys, values, max_size=5)


@given(contents)
def test_any_message_content_survives_the_database_codec(content):
    assert decode_content(encode_content(content)) == content


anything = st.recursive(
    scalars | st.floats(allow_nan=False),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["channel", "delay", "content", "x"]), children, max_size=4
        )
    ),
    max_leaves=8,
)


@pytest.mark.django_db
@settings(max_examples=200, deadline=None)
@given(anything)
def test_parsing_any_input_gives_a_row_or_invalid_delay_message(message):
    layer = ChannelLayer()
    try:
        row = parse_delay_message(layer, message)
    except InvalidDelayMessage:
        return
    assert row.channel_name == message["channel"]
    assert decode_content(row.content) == message["content"]
