"""A URLconf whose 500 handler itself fails, for the handler fallback test."""

from django.urls import path

from . import views


def broken_500(request):
    raise RuntimeError("the 500 handler is broken too")


handler500 = broken_500
urlpatterns = [path("error/", views.error)]
