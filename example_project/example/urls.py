from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

urlpatterns = [
    path("", views.index, name="index"),
    path("echo/", views.echo, name="echo"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(next_page="/"), name="logout"),
    path("accounts/signup/", views.signup, name="signup"),
    path("chat/<slug:room>/", views.chat, name="chat"),
    path("chat/<slug:room>/next/", views.next_line, name="next-line"),
    path("values/", views.values, name="values"),
    path("ticks/", views.ticks, name="ticks"),
]
