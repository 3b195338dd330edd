"""Routing: route, route_class, include, dict and dotted routings.

See docs/topics/routing.rst.
"""

import pytest
from django.core.exceptions import ImproperlyConfigured

from asgi.inmemory import ChannelLayer
from channels.handler import ViewConsumer
from channels.message import Message
from channels.routing import (
    Include,
    Route,
    Router,
    connect_consumer,
    include,
    null_consumer,
    route,
    route_class,
)

from . import consumers

pytestmark = pytest.mark.unit

LAYER = ChannelLayer()


def msg(channel, **content):
    return Message(content, channel, LAYER)


def first(message, **kwargs):
    pass


def second(message, **kwargs):
    pass


def test_route_matches_its_channel_and_passes_named_groups_as_kwargs():
    router = Router([route("websocket.receive", first, path=r"^/chat/(?P<room>\w+)/$")])
    assert router.match(msg("websocket.receive", path="/chat/lobby/")) == (first, {"room": "lobby"})


def test_route_on_another_channel_does_not_match():
    router = Router([route("websocket.receive", first)])
    assert router.match(msg("websocket.connect", path="/")) is None


def test_filters_on_any_message_key_like_the_email_example_of_the_talk():
    router = Router([route("email.receive", first, address=r".*@example\.com$")])
    assert router.match(msg("email.receive", address="bob@example.com")) == (first, {})
    assert router.match(msg("email.receive", address="bob@example.org")) is None


def test_filter_is_anchored_at_the_start_only():
    router = Router([route("http.request", first, path=r"/a")])
    assert router.match(msg("http.request", path="/abc")) is not None
    assert router.match(msg("http.request", path="/x/a")) is None


def test_message_without_the_filtered_key_does_not_match():
    router = Router([route("http.request", first, method=r"^GET$")])
    assert router.match(msg("http.request", path="/")) is None


def test_bytes_filter_and_bytes_message_value_are_decoded():
    router = Router([route(b"http.request", first, query_string=b"^a=(?P<a>\\d+)")])
    assert router.match(msg("http.request", query_string=b"a=42")) == (first, {"a": "42"})


def test_non_string_message_value_does_not_match():
    router = Router([route("websocket.receive", first, order=r"^1$")])
    assert router.match(msg("websocket.receive", order=1)) is None


def test_positional_groups_are_rejected():
    with pytest.raises(ValueError, match="positional groups"):
        route("http.request", first, path=r"^/(\d+)/$")


def test_non_regex_filter_is_rejected():
    with pytest.raises(ValueError, match="must be a regex string"):
        route("http.request", first, path=42)


def test_first_matching_route_wins():
    router = Router([route("http.request", first), route("http.request", second)])
    assert router.match(msg("http.request", path="/"))[0] is first


def test_route_on_several_channels():
    entry = route(["websocket.connect", "websocket.receive"], first)
    assert entry.channel_names() == {"websocket.connect", "websocket.receive"}
    assert Router([entry]).match(msg("websocket.receive", path="/")) == (first, {})


def test_dotted_string_consumer_is_imported():
    entry = route("tests.x", "tests.channels.core.consumers.echo")
    assert entry.consumer is consumers.echo


def test_unimportable_consumer_raises_improperly_configured():
    with pytest.raises(ImproperlyConfigured, match="Cannot import consumer"):
        route("tests.x", "tests.channels.core.consumers.missing")


def test_non_callable_consumer_is_rejected():
    with pytest.raises(ValueError, match="callable"):
        route("tests.x", 42)


def test_include_strips_the_matched_prefix_before_inner_matching():
    inner = [route("websocket.receive", first, path=r"^/(?P<room>\w+)/$")]
    router = Router([include(inner, path=r"^/chat")])
    assert router.match(msg("websocket.receive", path="/chat/lobby/")) == (first, {"room": "lobby"})
    assert router.match(msg("websocket.receive", path="/lobby/")) is None


def test_include_does_not_change_the_message_the_consumer_gets():
    message = msg("websocket.receive", path="/chat/lobby/")
    Router([include([route("websocket.receive", first)], path=r"^/chat")]).match(message)
    assert message["path"] == "/chat/lobby/"


def test_include_kwargs_merge_with_route_kwargs_and_the_route_wins():
    inner = [route("http.request", first, path=r"^/(?P<id>\d+)/(?P<name>\w+)$")]
    router = Router([include(inner, path=r"^/(?P<section>\w+)(?P<name>-x)?")])
    consumer, kwargs = router.match(msg("http.request", path="/news-x/7/seven"))
    assert kwargs == {"section": "news", "id": "7", "name": "seven"}


def test_includes_nest():
    innermost = [route("http.request", first, path=r"^/c$")]
    router = Router([include([include(innermost, path=r"^/b")], path=r"^/a")])
    assert router.match(msg("http.request", path="/a/b/c")) == (first, {})


def test_include_of_a_dotted_path():
    router = Router([include("tests.channels.core.consumers.dict_routing")])
    assert router.match(msg("tests.dict")) == (consumers.record, {})


def test_unimportable_routing_raises_improperly_configured():
    with pytest.raises(ImproperlyConfigured, match="Cannot import channel routing"):
        Router("tests.channels.core.consumers.no_such_routing")


def test_routing_of_the_wrong_type_raises_improperly_configured():
    with pytest.raises(ImproperlyConfigured, match="must be a list, a dict"):
        Router(42)


def test_routing_entry_without_match_raises_improperly_configured():
    with pytest.raises(ImproperlyConfigured, match="match\\(\\) and channel_names\\(\\)"):
        Router([object()])


def test_dict_routing_becomes_routes():
    router = Router({"tests.dict": consumers.record, "tests.other": first})
    assert router.channels == {"tests.dict", "tests.other"}
    assert router.match(msg("tests.other")) == (first, {})


def test_router_channels_is_the_union_of_all_entries():
    router = Router(
        [
            route("a.one", first),
            include([route("a.two", first), route_class(consumers.RecordingClassConsumer)]),
        ]
    )
    assert router.channels == {"a.one", "a.two", "tests.class-a", "tests.class-b"}


def test_route_class_takes_channels_from_the_consumer():
    entry = route_class(consumers.RecordingClassConsumer, path=r"^/x")
    assert entry.channel_names() == {"tests.class-a", "tests.class-b"}
    assert entry.match(msg("tests.class-b", path="/x")) == (consumers.RecordingClassConsumer, {})


def test_route_class_without_channel_names_is_rejected():
    with pytest.raises(ValueError, match="channel_names"):
        route_class(first)


def test_any_object_with_match_and_channel_names_is_a_routing_entry():
    class Custom:
        def match(self, message):
            return (second, {"custom": True}) if message.get("pick") else None

        def channel_names(self):
            return {"custom.channel"}

    router = Router([Custom()])
    assert router.channels == {"custom.channel"}
    assert router.match(msg("custom.channel", pick=1)) == (second, {"custom": True})


def test_add_route_appends_and_updates_channels():
    router = Router([])
    router.add_route(route("late.channel", first))
    assert router.channels == {"late.channel"}


def test_check_default_adds_views_accept_and_ignore_consumers():
    router = Router([])
    router.check_default()
    assert isinstance(router.match(msg("http.request", path="/x"))[0], ViewConsumer)
    assert router.match(msg("websocket.connect", path="/x"))[0] is connect_consumer
    assert router.match(msg("websocket.receive", path="/x"))[0] is null_consumer
    assert router.match(msg("websocket.disconnect", path="/x"))[0] is null_consumer


def test_check_default_keeps_partial_routes_first_and_falls_back_after_them():
    router = Router([route("http.request", first, path=r"^/http/$")])
    router.check_default()
    assert router.match(msg("http.request", path="/http/"))[0] is first
    assert isinstance(router.match(msg("http.request", path="/django/"))[0], ViewConsumer)


def test_check_default_adds_nothing_where_a_catch_all_exists():
    router = Router([route("http.request", first), route("websocket.connect", second)])
    router.check_default(http_consumer=null_consumer)
    assert len(router.root.routing) == 4  # only receive and disconnect were added
    assert router.match(msg("http.request", path="/"))[0] is first


def test_check_default_uses_the_given_http_consumer():
    router = Router([])
    router.check_default(http_consumer=second)
    assert router.match(msg("http.request", path="/"))[0] is second


def test_lower_case_aliases():
    assert route is Route and include is Include
    assert issubclass(route_class, Route)


def test_route_str_names_channel_consumer_and_filters():
    assert (
        str(route("http.request", first, path="^/a")) == "Route('http.request', first, path='^/a')"
    )


def test_check_default_still_adds_views_behind_a_root_only_route():
    router = Router([route("http.request", first, path=r"^/$")])
    router.check_default()
    assert router.match(msg("http.request", path="/"))[0] is first
    assert isinstance(router.match(msg("http.request", path="/other/"))[0], ViewConsumer)


def test_non_string_channel_name_is_rejected():
    with pytest.raises(ValueError, match="channel names must be str"):
        route(["http.request", 42], first)


def test_a_route_on_every_path_counts_as_a_catch_all_for_check_default():
    router = Router(
        [
            route("http.request", first, path=r"^/"),
            route("websocket.connect", second, path=r".*"),
            route("websocket.receive", first),
            route("websocket.disconnect", second),
        ]
    )
    router.check_default()
    assert len(router.root.routing) == 4


def test_check_default_probes_without_a_channel_layer():
    class LayerUser:
        def match(self, message):
            message.channel_layer.send("x", {})

        def channel_names(self):
            return {"http.request"}

    router = Router([LayerUser()])
    with pytest.raises(RuntimeError, match="^A routing probe message has no channel layer$"):
        router.check_default()


def test_connect_consumer_accepts_on_the_reply_channel():
    layer = ChannelLayer()
    message = Message(
        {"reply_channel": "websocket.send!a", "path": "/"}, "websocket.connect", layer
    )
    connect_consumer(message)
    assert layer.receive(["websocket.send!"]) == ("websocket.send!a", {"accept": True})
    assert null_consumer(message, x=1) is None


def test_filter_errors_name_the_entry_the_key_and_the_problem():
    with pytest.raises(
        ValueError, match=r"^route\('http\.request'\) filter path= must be a regex string, got int$"
    ):
        route("http.request", first, path=42)
    with pytest.raises(
        ValueError,
        match=r"^include\(\) filter path='\^/\(\\\\d\+\)' has positional groups; "
        r"use only named groups \(\?P<name>\.\.\.\), they become consumer kwargs$",
    ):
        include([], path=r"^/(\d+)")


def test_include_filters_strip_their_prefix_and_reject_other_messages():
    router = Router([include([route("http.request", first)], method=r"^GET$")])
    assert router.match(msg("http.request", method="GET")) == (first, {})
    assert router.match(msg("http.request", method="POST")) is None


def test_a_routing_entry_needs_both_match_and_channel_names():
    class OnlyMatch:
        def match(self, message):
            return None

    with pytest.raises(
        ImproperlyConfigured,
        match=r"^Routing entries must have match\(\) and channel_names\(\) \(use route\(\), "
        r"route_class\(\) or include\(\)\), got <",
    ):
        Router([OnlyMatch()])


def test_route_class_applies_its_filters():
    entry = route_class(consumers.RecordingClassConsumer, path=r"^/x")
    assert entry.match(msg("tests.class-a", path="/y")) is None


def test_route_str_with_several_channels_and_filters_and_a_consumer_object():
    consumer = ViewConsumer()
    entry = route(["a.one", "a.two"], consumer, path="^/a", method="GET")
    assert str(entry) == "Route(['a.one', 'a.two'], ViewConsumer, path='^/a', method='GET')"
    assert repr(route("a.one", first)) == "Route('a.one', first)"
