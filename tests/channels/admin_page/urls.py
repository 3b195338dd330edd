"""The admin for the layer page's tests: the default site, and a custom
``AdminSite`` that adds the page the documented way (the suite's own URLs
stay reachable)."""

from django.contrib import admin
from django.urls import include, path

from channels.admin import LayerAdmin
from channels.models import Layer

custom_site = admin.AdminSite(name="custom_admin")
custom_site.register(Layer, LayerAdmin)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("custom-admin/", custom_site.urls),
    path("", include("tests.urls")),
]
