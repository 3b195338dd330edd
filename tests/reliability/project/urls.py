"""URLs of the reliability project."""

from django.urls import path

from . import views

urlpatterns = [
    path("hello/", views.hello),
    path("slow/", views.slow),
    path("headers/", views.headers),
    path("boom/", views.boom),
    path("echo/", views.echo),
]
