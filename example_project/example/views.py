"""The example's one page: a WebSocket echo box."""

from django.shortcuts import render


def index(request):
    return render(request, "example/index.html")
