"""The channel layer registry, settings checks and exceptions.

See docs/reference/channels.rst.
"""

import pytest
from django.core import checks

import channels
from asgi.inmemory import ChannelLayer
from channels.asgi import (
    ChannelLayerManager,
    ChannelLayerWrapper,
    InvalidChannelLayerError,
    get_channel_layer,
)
from channels.checks import check_channel_layers
from channels.exceptions import WebsocketCloseException
from channels.message import Message

pytestmark = pytest.mark.unit

INMEMORY = "asgi.inmemory.ChannelLayer"


def test_package_root_exports_the_1x_names():
    assert channels.DEFAULT_CHANNEL_LAYER == "default"
    assert channels.default_app_config == "channels.apps.ChannelsConfig"
    for name in ("channel_layers", "Channel", "Group", "route", "route_class", "include"):
        assert hasattr(channels, name)


def test_layer_is_built_from_backend_and_config_and_cached(settings):
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": INMEMORY, "CONFIG": {"capacity": 3}, "ROUTING": []}
    }
    manager = ChannelLayerManager()
    wrapper = manager["default"]
    assert isinstance(wrapper.channel_layer, ChannelLayer)
    assert wrapper.capacity == 3  # attribute access goes to the raw layer
    assert manager["default"] is wrapper
    assert wrapper.alias == "default" and wrapper.routing == []
    assert str(wrapper) == "default (asgi.inmemory.ChannelLayer)"
    assert wrapper.local_only()


def test_routing_is_resolved_into_a_router(settings):
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": INMEMORY, "ROUTING": "tests.channels.core.consumers.dict_routing"}
    }
    assert ChannelLayerManager()["default"].router.channels == {"tests.dict"}


def test_missing_routing_is_an_invalid_channel_layer_error(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": INMEMORY}}
    with pytest.raises(InvalidChannelLayerError, match="no ROUTING"):
        ChannelLayerManager()["default"]


def test_missing_backend_is_an_invalid_channel_layer_error(settings):
    settings.CHANNEL_LAYERS = {"default": {"ROUTING": []}}
    with pytest.raises(InvalidChannelLayerError, match="no BACKEND"):
        ChannelLayerManager()["default"]


def test_unimportable_backend_is_an_invalid_channel_layer_error(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "nowhere.Layer", "ROUTING": []}}
    with pytest.raises(InvalidChannelLayerError, match="Cannot import BACKEND 'nowhere.Layer'"):
        ChannelLayerManager()["default"]


def test_unknown_alias_is_an_invalid_channel_layer_error(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": INMEMORY, "ROUTING": []}}
    manager = ChannelLayerManager()
    assert "other" not in manager and "default" in manager
    with pytest.raises(InvalidChannelLayerError, match="No channel layer 'other'"):
        manager["other"]


def test_invalid_channel_layer_error_is_a_value_error():
    assert issubclass(InvalidChannelLayerError, ValueError)


def test_test_backend_uses_test_config(settings):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": INMEMORY,
            "CONFIG": {"capacity": 3},
            "TEST_CONFIG": {"capacity": 7},
            "ROUTING": [],
        }
    }
    assert ChannelLayerManager().make_test_backend("default").capacity == 7


def test_test_backend_without_test_config_is_an_error(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": INMEMORY, "ROUTING": []}}
    with pytest.raises(InvalidChannelLayerError, match="no TEST_CONFIG"):
        ChannelLayerManager().make_test_backend("default")


def test_no_channel_layers_setting_gives_an_in_memory_default(settings):
    del settings.CHANNEL_LAYERS
    manager = ChannelLayerManager()
    assert "default" in manager
    assert manager["default"].local_only()
    assert manager["default"].routing == []


def test_set_replaces_and_returns_the_old_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": INMEMORY, "ROUTING": []}}
    manager = ChannelLayerManager()
    original = manager["default"]
    replacement = ChannelLayerWrapper(ChannelLayer(), "default", [])
    assert manager.set("default", replacement) is original
    assert manager["default"] is replacement


def test_get_channel_layer_returns_the_raw_layer():
    layer = get_channel_layer()
    assert isinstance(layer, ChannelLayer)
    assert layer is channels.channel_layers["default"].channel_layer


def test_system_check_reports_each_missing_key(settings):
    settings.CHANNEL_LAYERS = {
        "a": {"ROUTING": []},
        "b": {"BACKEND": INMEMORY},
        "c": {"BACKEND": INMEMORY, "ROUTING": [], "CONFIG": [1]},
        "d": "nonsense",
    }
    ids = sorted(error.id for error in check_channel_layers())
    assert ids == ["channels.E001", "channels.E002", "channels.E003", "channels.E004"]


def test_system_check_accepts_a_valid_setting_and_is_registered(settings):
    assert check_channel_layers() == []
    assert check_channel_layers in checks.registry.registry.get_checks()


def test_system_check_rejects_a_non_dict_setting(settings):
    settings.CHANNEL_LAYERS = ["default"]
    assert [e.id for e in check_channel_layers()] == ["channels.E001"]


@pytest.mark.parametrize("code", [0, 999, 1001, 2999, 5000, "4000", True])
def test_websocket_close_exception_rejects_codes_outside_1000_and_3000_4999(code):
    with pytest.raises(ValueError, match="1000 or in 3000-4999"):
        WebsocketCloseException(code)


@pytest.mark.parametrize("code,sent", [(None, True), (1000, 1000), (3000, 3000), (4999, 4999)])
def test_websocket_close_exception_sends_close(code, sent):
    layer = ChannelLayerWrapper(ChannelLayer(), "t", [])
    message = Message({"reply_channel": "websocket.send!x"}, "websocket.receive", layer)
    WebsocketCloseException(code).run(message)
    assert layer.receive(["websocket.send!"]) == ("websocket.send!x", {"close": sent})


def test_websocket_close_exception_on_a_non_websocket_reply_channel_is_a_value_error():
    layer = ChannelLayerWrapper(ChannelLayer(), "t", [])
    message = Message({"reply_channel": "http.response!x"}, "http.request", layer)
    with pytest.raises(ValueError, match="websocket"):
        WebsocketCloseException().run(message)


def test_config_that_is_not_a_dict_is_an_invalid_channel_layer_error(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": INMEMORY, "ROUTING": [], "CONFIG": [1]}}
    with pytest.raises(InvalidChannelLayerError, match="CONFIG must be a dict"):
        ChannelLayerManager()["default"]


def test_channel_socket_exception_needs_a_run_method():
    from channels.exceptions import ChannelSocketException

    with pytest.raises(NotImplementedError, match="must implement run"):
        ChannelSocketException().run(None)
