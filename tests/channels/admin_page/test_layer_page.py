"""The layer page in Django's admin, through Django's test client.

The layer is a real in-memory layer with real messages waiting, groups and
heartbeats; the page and its JSON endpoint must show what the layer holds.
"""

from __future__ import annotations

import json
import socket
import time

import pytest
from django.contrib.staticfiles import finders
from django.test import override_settings

from asgi.inmemory import ChannelLayer
from asgi_redis import RedisChannelLayer
from channels._layer_page import format_percent, format_seconds
from channels.asgi import ChannelLayerWrapper, channel_layers
from tests.channels.admin_page.tables import rows_by, tables

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db,
    pytest.mark.urls("tests.channels.admin_page.urls"),
]

PAGE = "/admin/channels/layer/"
DATA = "/admin/channels/layer/data/"


def use_layer(layer, alias="default"):
    """Make ``layer`` the configured ``alias`` for the test (restored after)."""
    return channel_layers.set(alias, ChannelLayerWrapper(layer, alias, []))


@pytest.fixture
def layer():
    layer = ChannelLayer(capacity=10)
    old = use_layer(layer)
    yield layer
    channel_layers.set("default", old)


@pytest.fixture
def busy_layer(layer):
    """Three jobs nobody consumes, one request a worker consumes, a group of two."""
    now = time.time()
    layer.heartbeat(
        {
            "id": "worker:web1:4242:0badcafe",
            "kind": "worker",
            "host": "web1",
            "pid": 4242,
            "version": "1.1.8",
            "channels": ["http.request", "websocket.*"],
            "handled": 42,
            "last_activity": now - 3.0,
            "started": now - 120.0,
        },
        ttl=60,
    )
    for number in range(3):
        layer.send("jobs.pending", {"n": number})
    layer.send("http.request", {"path": "/"})
    layer.group_add("room.lobby", "websocket.send!a")
    layer.group_add("room.lobby", "websocket.send!b")
    return layer


@pytest.fixture
def staff(client, django_user_model):
    user = django_user_model.objects.create_user("ops", password="pw", is_staff=True)
    client.force_login(user)
    return client


class NotInspectableLayer(ChannelLayer):
    extensions = ["groups", "flush"]


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- access -------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [PAGE, DATA])
def test_anonymous_visitors_are_sent_to_the_admin_login(client, layer, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"/admin/login/?next={url}"


@pytest.mark.parametrize("url", [PAGE, DATA])
def test_users_who_are_not_staff_are_sent_to_the_admin_login(client, django_user_model, layer, url):
    client.force_login(django_user_model.objects.create_user("visitor", password="pw"))
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_the_admin_index_lists_the_page_under_channels(staff, layer):
    response = staff.get("/admin/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'href="/admin/channels/layer/"' in html
    assert "Channel layer" in html
    (channels_app,) = [
        app for app in response.context["app_list"] if app["app_label"] == "channels"
    ]
    assert channels_app["name"] == "Channels"
    assert [model["admin_url"] for model in channels_app["models"]] == [PAGE]
    assert channels_app["models"][0]["add_url"] is None  # nothing to add or change
    app_index = staff.get("/admin/channels/")
    assert app_index.status_code == 200
    assert 'href="/admin/channels/layer/"' in app_index.content.decode()


def test_staff_without_any_permission_is_enough(staff, layer):
    user = staff.get(PAGE).context["user"]
    assert not user.is_superuser and not user.user_permissions.exists()
    assert staff.get(PAGE).status_code == 200


def test_a_custom_admin_site_shows_the_page_with_its_own_urls(staff, busy_layer):
    response = staff.get("/custom-admin/channels/layer/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-url="/custom-admin/channels/layer/data/"' in html
    data = staff.get("/custom-admin/channels/layer/data/")
    assert data.status_code == 200
    assert data.json()["unconsumed"] == ["jobs.pending"]


# -- the page -----------------------------------------------------------------------------


def test_the_page_shows_what_waits_in_the_layer(staff, busy_layer):
    response = staff.get(PAGE)
    assert response.status_code == 200
    html = response.content.decode()
    channels = rows_by(html, "lp-channels", "data-channel")
    assert sorted(channels) == ["http.request", "jobs.pending"]
    jobs = channels["jobs.pending"]
    assert jobs["cells"]["depth"] == "3"
    assert jobs["cells"]["capacity"] == "10"
    assert jobs["cells"]["use"] == "30 %"
    assert jobs["cells"]["oldest"].endswith(" ms")  # sent just now
    assert jobs["attrs"]["class"] == "unconsumed"
    assert "no consumer" in jobs["cells"]["name"]
    assert channels["http.request"]["cells"]["depth"] == "1"
    assert "class" not in channels["http.request"]["attrs"]
    assert 'id="lp-unconsumed" class="unconsumed-note">' in html  # shown, not hidden


def test_the_page_shows_processes_groups_and_shards(staff, busy_layer):
    html = staff.get(PAGE).content.decode()
    (process,) = rows_by(html, "lp-processes", "data-process").values()
    cells = process["cells"]
    assert (cells["kind"], cells["host"], cells["pid"]) == ("worker", "web1", "4242")
    assert cells["channels"] == "http.request, websocket.*"
    assert cells["handled"] == "42"
    assert cells["idle"].endswith(" s") and 3.0 <= float(cells["idle"].split()[0]) < 5
    assert cells["uptime"] == "2.0 min"
    groups = rows_by(html, "lp-groups", "data-group")
    assert groups["room.lobby"]["cells"]["size"] == "2"
    assert "members" not in groups["room.lobby"]["cells"]
    shards = rows_by(html, "lp-shards", "data-shard")
    assert shards["memory"]["cells"]["reachable"] == "yes"


def test_members_on_request(staff, busy_layer):
    html = staff.get(PAGE + "?members=1").content.decode()
    groups = rows_by(html, "lp-groups", "data-group")
    assert groups["room.lobby"]["cells"]["members"] == "websocket.send!a, websocket.send!b"
    assert 'data-url="/admin/channels/layer/data/?members=1"' in html


def test_an_empty_layer_says_so(staff, layer):
    found = tables(staff.get(PAGE).content.decode())
    assert [row["cells"] for row in found["lp-channels"]] == [
        {"td": "No channel has waiting messages."}
    ]
    assert [row["cells"] for row in found["lp-processes"]] == [
        {"td": "No live process has sent a heartbeat."}
    ]


def test_the_page_loads_its_script_and_styles_and_polls_every_two_seconds(staff, layer):
    html = staff.get(PAGE).content.decode()
    assert 'src="/static/channels/admin/layer.js"' in html
    assert 'href="/static/channels/admin/layer.css"' in html
    assert 'data-refresh-ms="2000"' in html and 'data-poll="on"' in html
    assert finders.find("channels/admin/layer.js") and finders.find("channels/admin/layer.css")


def test_the_first_snapshot_is_embedded_for_the_script(staff, busy_layer):
    response = staff.get(PAGE)
    html = response.content.decode()
    start = html.index('<script id="lp-initial" type="application/json">') + len(
        '<script id="lp-initial" type="application/json">'
    )
    embedded = json.loads(html[start : html.index("</script>", start)])
    assert embedded["unconsumed"] == ["jobs.pending"]
    assert embedded["error"] is None


# -- the JSON endpoint --------------------------------------------------------------------


def test_the_json_endpoint_gives_the_snapshot_with_what_the_page_derives(staff, busy_layer):
    before = time.time()
    response = staff.get(DATA)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"]  # a fresh picture every time
    body = response.json()
    assert set(body) == {
        "layer",
        "error",
        "time",
        "channels",
        "groups",
        "processes",
        "shards",
        "unconsumed",
    }
    assert body["layer"] == {"alias": "default", "backend": "asgi.inmemory.ChannelLayer"}
    assert body["error"] is None
    assert before <= body["time"] <= time.time()
    channels = {row["channel"]: row for row in body["channels"]}
    jobs = channels["jobs.pending"]
    assert (jobs["depth"], jobs["capacity"], jobs["usage"]) == (3, 10, 30.0)
    assert jobs["unconsumed"] is True and jobs["consumed"] is False
    assert 0 <= jobs["oldest_age"] < 5
    assert channels["http.request"]["unconsumed"] is False
    assert body["unconsumed"] == ["jobs.pending"]
    (process,) = body["processes"]
    assert process["handled"] == 42
    assert 119 <= process["uptime"] < 125
    assert body["groups"] == [{"group": "room.lobby", "size": 2}]
    assert body["shards"] == [{"shard": "memory", "reachable": True, "latency": 0.0}]


def test_the_json_endpoint_follows_new_messages(staff, busy_layer):
    busy_layer.send("jobs.pending", {"n": 3})
    busy_layer.receive(["http.request"])
    channels = {row["channel"]: row for row in staff.get(DATA).json()["channels"]}
    assert channels["jobs.pending"]["depth"] == 4
    assert "http.request" not in channels  # emptied: only waiting channels are listed


def test_named_channels_are_reported_even_when_empty(staff, layer):
    body = staff.get(DATA + "?channel=chat.idle&channel=jobs.pending").json()
    assert [(row["channel"], row["depth"]) for row in body["channels"]] == [
        ("chat.idle", 0),
        ("jobs.pending", 0),
    ]
    assert body["unconsumed"] == []


def test_members_in_the_json_on_request(staff, busy_layer):
    body = staff.get(DATA + "?members=1").json()
    assert body["groups"] == [
        {"group": "room.lobby", "size": 2, "members": ["websocket.send!a", "websocket.send!b"]}
    ]


# -- layers that cannot be inspected ------------------------------------------------------


@pytest.fixture
def not_inspectable():
    old = use_layer(NotInspectableLayer())
    yield
    channel_layers.set("default", old)


@pytest.fixture
def down_layer():
    """The Redis layer with its server down: nothing listens on its port."""
    port = closed_port()
    old = use_layer(RedisChannelLayer(hosts=[f"redis://127.0.0.1:{port}"]))
    yield port
    channel_layers.set("default", old)


def test_a_layer_without_inspect_is_said_plainly_on_the_page(staff, not_inspectable):
    response = staff.get(PAGE)
    assert response.status_code == 200
    html = response.content.decode()
    assert "does not support inspection" in html
    assert "extensions do not include &#x27;inspect&#x27;" in html
    assert 'data-poll="off"' in html  # nothing will change: no polling
    assert "lp-channels" not in tables(html)


def test_a_layer_without_inspect_answers_501_in_json(staff, not_inspectable):
    response = staff.get(DATA)
    assert response.status_code == 501
    body = response.json()
    assert body["error"]["reason"] == "no_inspect"
    assert "does not support inspection" in body["error"]["message"]
    assert body["layer"]["backend"].endswith("NotInspectableLayer")
    assert "channels" not in body


def test_a_layer_that_fails_shows_the_error_and_keeps_polling(staff, down_layer):
    response = staff.get(PAGE)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Cannot read the channel layer &#x27;default&#x27;: RedisUnavailable: " in html
    assert f"Redis at redis://127.0.0.1:{down_layer} is unreachable" in html
    assert 'id="lp-error" class="errornote">' in html  # shown
    assert 'data-poll="on"' in html
    assert "lp-channels" in tables(html)  # the tables stay, for when it comes back


def test_a_layer_that_fails_answers_503_in_json(staff, down_layer):
    response = staff.get(DATA)
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["reason"] == "layer_error"
    assert error["message"].startswith("Cannot read the channel layer 'default': RedisUnavailable")
    assert f"Error 111 connecting to 127.0.0.1:{down_layer}" in error["message"]
    assert response.json()["layer"]["backend"] == "asgi_redis.core.RedisChannelLayer"


def test_an_unknown_layer_alias_answers_404(staff, layer):
    response = staff.get(DATA + "?layer=nope")
    assert response.status_code == 404
    assert response.json()["error"] == {
        "reason": "unknown_layer",
        "message": "No channel layer 'nope' in CHANNEL_LAYERS (configured: ['default'])",
    }
    page = staff.get(PAGE + "?layer=nope")
    assert page.status_code == 404
    html = page.content.decode()
    assert "No channel layer &#x27;nope&#x27;" in html and 'data-poll="off"' in html


# -- the number formats (the script mirrors them) -----------------------------------------


@pytest.mark.parametrize(
    "seconds,text",
    [
        (None, "-"),
        (0.0, "0.00 ms"),
        (0.000042, "0.04 ms"),
        (0.0042, "4.2 ms"),
        (0.0123, "12 ms"),
        (1.25, "1.2 s"),
        (90, "1.5 min"),
        (7200, "2.0 h"),
    ],
)
def test_durations_read_as_people_read_them(seconds, text):
    assert format_seconds(seconds) == text


@pytest.mark.parametrize(
    "percent,text", [(None, "-"), (0.0, "0 %"), (30.0, "30 %"), (99.6, "100 %")]
)
def test_capacity_use_is_a_whole_percentage(percent, text):
    assert format_percent(percent) == text


def test_a_layer_that_cannot_be_built_answers_503_with_the_configuration_error(staff, layer):
    layers = {
        "default": {"BACKEND": "asgi.inmemory.ChannelLayer", "ROUTING": []},
        "broken": {"BACKEND": "nowhere.ChannelLayer", "ROUTING": []},
    }
    with override_settings(CHANNEL_LAYERS=layers):
        response = staff.get(DATA + "?layer=broken")
        page = staff.get(PAGE + "?layer=broken").content.decode()
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["reason"] == "layer_error"
    assert (
        "InvalidChannelLayerError: Cannot import BACKEND &#x27;nowhere.ChannelLayer&#x27;" in page
    )
    assert "Cannot import BACKEND 'nowhere.ChannelLayer'" in error["message"]
    assert 'href="?layer=default"' in page  # the other layers are a click away
