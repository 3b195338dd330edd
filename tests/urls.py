"""URLs for the test suite's Django project."""

from django.urls import include, path

urlpatterns: list = [
    path("", include("tests.channels.core.urls")),
]
