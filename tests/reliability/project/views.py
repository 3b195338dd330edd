"""Views the reliability tests call over HTTP."""

import os
import time

from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt


def hello(request):
    """A fast answer naming the worker process, so tests see which worker served."""
    return HttpResponse(f"hello from {os.getpid()}", content_type="text/plain")


def slow(request):
    """Answer after ``?s=`` seconds: a response that is in flight when a process is signalled."""
    time.sleep(float(request.GET.get("s", "1")))
    return HttpResponse("slow done", content_type="text/plain")


def headers(request):
    """The ``HTTP_*`` keys Django saw, to check which request headers reach the application."""
    return JsonResponse({k: v for k, v in request.META.items() if k.startswith("HTTP_")})


def boom(request):
    """An application bug: the error page must not show it when DEBUG is off."""
    secret_detail = "internal-detail-" + "7f3a"
    raise RuntimeError(f"application bug with {secret_detail}")


@csrf_exempt
def echo(request):
    """The request body back, with its length."""
    return HttpResponse(request.body, content_type="application/octet-stream")
