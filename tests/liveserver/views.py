"""Views of the live-server tests' project."""

from django.contrib.auth import get_user_model
from django.http import HttpResponse
from django.template import engines

BRIDGE_PAGE = """{% load static %}<!doctype html><html><head><meta charset="utf-8">
<script src="{% static 'channels/js/websocketbridge.js' %}"></script></head>
<body><script>window.received = []; window.events = [];</script></body></html>"""


def user_count(request):
    return HttpResponse(str(get_user_model().objects.count()), content_type="text/plain")


def bridge_page(request):
    template = engines["django"].from_string(BRIDGE_PAGE)
    return HttpResponse(template.render({}, request))
