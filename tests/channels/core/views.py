"""Django views served both by Django's test client and through ViewConsumer."""

import hashlib
import json
import tempfile

from django.contrib import messages
from django.contrib.auth import authenticate, login
from django.http import (
    FileResponse,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, ensure_csrf_cookie

from channels.exceptions import ResponseLater
from channels.handler import HttpResponseLater

BIG = bytes(range(256)) * 4800  # 1,228,800 bytes: three 512 KB chunks


def hello(request):
    response = HttpResponse(f"hello {request.GET.get('name', 'world')}", content_type="text/plain")
    response.set_cookie("greeted", "yes")
    response["X-Custom"] = "value"
    return response


def meta(request):
    keys = [
        "REQUEST_METHOD",
        "QUERY_STRING",
        "SCRIPT_NAME",
        "PATH_INFO",
        "SERVER_NAME",
        "SERVER_PORT",
        "REMOTE_ADDR",
        "REMOTE_PORT",
        "CONTENT_TYPE",
        "CONTENT_LENGTH",
        "HTTP_X_MULTI",
        "HTTP_COOKIE",
        "HTTP_X_FORWARDED_FOR",
        "SERVER_PROTOCOL",
    ]
    return JsonResponse(
        {
            "meta": {key: request.META.get(key) for key in keys},
            "path": request.path,
            "path_info": request.path_info,
            "script_name": request.META.get("SCRIPT_NAME"),
            "scheme": request.scheme,
            "secure": request.is_secure(),
            "get": dict(request.GET.lists()),
            "cookies": request.COOKIES,
            "reverse": reverse("meta"),
            "uri": request.build_absolute_uri(),
        }
    )


@csrf_exempt
def form(request):
    return JsonResponse(
        {
            "method": request.method,
            "post": dict(request.POST.lists()),
            "encoding": request.encoding,
        }
    )


@csrf_exempt
def raw_body(request):
    return HttpResponse(hashlib.sha256(request.body).hexdigest(), content_type="text/plain")


@csrf_exempt
def upload(request):
    files = {
        name: {
            "name": f.name,
            "size": f.size,
            "sha256": hashlib.sha256(f.read()).hexdigest(),
        }
        for name, f in request.FILES.items()
    }
    return JsonResponse({"files": files, "post": dict(request.POST.lists())})


@ensure_csrf_cookie
def csrf_form(request):
    if request.method == "POST":
        return HttpResponse("accepted", content_type="text/plain")
    return HttpResponse("form", content_type="text/plain")


def session_counter(request):
    request.session["count"] = request.session.get("count", 0) + 1
    return HttpResponse(str(request.session["count"]), content_type="text/plain")


@csrf_exempt
def login_view(request):
    user = authenticate(
        request, username=request.POST["username"], password=request.POST["password"]
    )
    if user is None:
        return HttpResponse("bad credentials", status=401, content_type="text/plain")
    login(request, user)
    return HttpResponse("logged in", content_type="text/plain")


def whoami(request):
    user = request.user
    return HttpResponse(user.username if user.is_authenticated else "anonymous")


def add_message(request):
    messages.info(request, "saved!")
    return HttpResponseRedirect(reverse("show-messages"))


def show_messages(request):
    return HttpResponse(",".join(str(m) for m in messages.get_messages(request)))


def redirect(request):
    return HttpResponseRedirect("/hello/?name=redirected")


def big(request):
    return HttpResponse(BIG, content_type="application/octet-stream")


def file_view(request):
    handle = tempfile.TemporaryFile()
    handle.write(BIG)
    handle.seek(0)
    return FileResponse(handle, content_type="application/octet-stream")


def streaming(request):
    def parts():
        yield b"first,"
        yield b""
        yield b"second,"
        yield b"x" * (600 * 1024)

    return StreamingHttpResponse(parts(), content_type="text/plain")


def error(request):
    raise ValueError("view exploded with a secret detail")


def later(request):
    raise ResponseLater()


def later_response(request):
    return HttpResponseLater()


def empty(request):
    return HttpResponse(status=204)


def bad_json(request):
    return HttpResponse(json.dumps({"ok": False}), status=400, content_type="application/json")
