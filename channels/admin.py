"""The live layer page in Django's admin (staff only).

See docs/operating.rst, "The admin page". Django's admin discovers this
module when ``django.contrib.admin`` is installed and registers the page on
the default ``admin.site`` against the tableless ``channels.models.Layer``,
which puts "Channel layer" under "Channels" in the admin index. A custom
``AdminSite`` adds it with ``site.register(Layer, LayerAdmin)``.

Two URLs: the page (``admin/channels/layer/``) and the JSON it polls every
two seconds (``admin/channels/layer/data/``), both behind the site's
``admin_view``: anyone who is not active staff is sent to the admin login.
Being staff is enough; the page has no permission of its own.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse

from ._aliases import DEFAULT_CHANNEL_LAYER
from ._layer_page import UNKNOWN_LAYER, read_layer
from .models import Layer

__all__ = ["REFRESH_SECONDS", "LayerAdmin"]

#: How often the page fetches a new snapshot.
REFRESH_SECONDS = 2.0


class LayerAdmin(admin.ModelAdmin):
    """The layer page and its JSON endpoint, in place of a change list."""

    def _is_staff(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_staff)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._is_staff(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._is_staff(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list:
        info = self.opts.app_label, self.opts.model_name
        view = self.admin_site.admin_view
        return [
            path("", view(self.layer_view), name="{}_{}_changelist".format(*info)),
            path("data/", view(self.data_view), name="{}_{}_data".format(*info)),
        ]

    @staticmethod
    def _query(request: HttpRequest) -> dict[str, Any]:
        """What to inspect: ``?layer=alias``, ``?channel=name`` (repeated), ``?members=1``."""
        return {
            "alias": request.GET.get("layer") or DEFAULT_CHANNEL_LAYER,
            "channels": [name for name in request.GET.getlist("channel") if name],
            "members": request.GET.get("members", "") not in ("", "0", "false"),
        }

    def layer_view(self, request: HttpRequest) -> HttpResponse:
        """The page: the current snapshot rendered, and the script that refreshes it."""
        query = self._query(request)
        reading = read_layer(query["alias"], query["channels"], query["members"])
        info = self.opts.app_label, self.opts.model_name
        data_url = reverse("{}:{}_{}_data".format(self.admin_site.name, *info))
        if request.GET:
            data_url += "?" + request.GET.urlencode()
        context = {
            **self.admin_site.each_context(request),
            "title": "Channel layer",
            "subtitle": None,
            "opts": self.opts,
            "app_label": self.opts.app_label,
            "reading": reading,
            "snapshot": reading.snapshot,
            "members": query["members"],
            "data_url": data_url,
            "refresh_ms": int(REFRESH_SECONDS * 1000),
        }
        # The page itself works when the layer does not (it says why and, for
        # a layer that is down, keeps trying); an unknown ?layer= is a 404.
        status = 404 if reading.reason == UNKNOWN_LAYER else 200
        return TemplateResponse(request, "channels/admin/layer.html", context, status=status)

    def data_view(self, request: HttpRequest) -> JsonResponse:
        """The JSON the page polls: one snapshot, or ``error`` with a 404/501/503 status."""
        query = self._query(request)
        reading = read_layer(query["alias"], query["channels"], query["members"])
        return JsonResponse(reading.as_json(), status=reading.status)


admin.site.register(Layer, LayerAdmin)
