"""A login view for the end-to-end tests: ``/login/?username=ada``."""

from django.contrib.auth import login
from django.contrib.auth.models import User
from django.http import HttpResponse
from django.urls import path


def log_in(request):
    user, _created = User.objects.get_or_create(username=request.GET["username"])
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return HttpResponse(f"logged in {user.username}")


urlpatterns = [path("login/", log_in)]
