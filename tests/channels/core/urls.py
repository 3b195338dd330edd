"""URLs of the views in tests.channels.core.views."""

from django.urls import path

from . import views

urlpatterns = [
    path("hello/", views.hello, name="hello"),
    path("meta/", views.meta, name="meta"),
    path("form/", views.form),
    path("raw/", views.raw_body),
    path("upload/", views.upload),
    path("csrf/", views.csrf_form),
    path("session/", views.session_counter),
    path("login/", views.login_view),
    path("whoami/", views.whoami),
    path("messages/add/", views.add_message),
    path("messages/", views.show_messages, name="show-messages"),
    path("redirect/", views.redirect),
    path("big/", views.big),
    path("file/", views.file_view),
    path("stream/", views.streaming),
    path("error/", views.error),
    path("later/", views.later),
    path("later-response/", views.later_response),
    path("empty/", views.empty),
    path("bad-json/", views.bad_json),
]
