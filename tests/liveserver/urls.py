from django.urls import path

from . import views

urlpatterns = [
    path("users/", views.user_count),
    path("bridge/", views.bridge_page),
]
