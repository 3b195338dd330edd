"""The example's pages: an index, the echo box, the chat, and the values."""

from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import UserCreationForm
from django.shortcuts import redirect, render
from values.models import IntegerValue

from .longpoll import next_line, ticks


def index(request):
    return render(request, "example/index.html")


def echo(request):
    return render(request, "example/echo.html")


def signup(request):
    form = UserCreationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("chat", room="lobby")
    return render(request, "registration/signup.html", {"form": form})


@login_required
def chat(request, room):
    return render(request, "example/chat.html", {"room": room})


def values(request):
    if not IntegerValue.objects.exists():
        IntegerValue.objects.create(name="Cool", value=0)
    return render(request, "example/values.html", {"values": IntegerValue.objects.order_by("pk")})


__all__ = ["chat", "echo", "index", "next_line", "signup", "ticks", "values"]
