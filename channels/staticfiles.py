"""Serving static files from ``runserver``.

See docs/topics/workers.rst, "runserver".

``StaticFilesConsumer`` replaces the default ``http.request`` consumer when
``django.contrib.staticfiles`` is installed and DEBUG (or ``--insecure``) is
on: paths under STATIC_URL are served from the finders, everything else
goes to the views as usual.
"""

from __future__ import annotations

from urllib.parse import urlparse
from urllib.request import url2pathname

from django.conf import settings
from django.contrib.staticfiles import utils
from django.contrib.staticfiles.views import serve
from django.http import Http404, HttpResponseNotFound
from django.views import debug

from ._compat import close_with_response
from .handler import AsgiHandler, ViewConsumer

__all__ = ["StaticFilesConsumer", "StaticFilesHandler"]


class StaticFilesHandler(AsgiHandler):
    """An ``AsgiHandler`` that answers STATIC_URL paths from the static finders."""

    def __init__(self) -> None:
        self.base_url = urlparse(self.get_base_url())
        super().__init__()

    def get_base_url(self) -> str:
        utils.check_settings()
        return settings.STATIC_URL

    def _should_handle(self, path: str) -> bool:
        """Whether ``path`` is under STATIC_URL (and STATIC_URL names no host)."""
        return path.startswith(self.base_url.path) and not self.base_url.netloc

    def file_path(self, url: str) -> str:
        """The path relative to the static roots for the URL ``url``."""
        return url2pathname(url.removeprefix(self.base_url.path))

    def serve(self, request):
        return serve(request, self.file_path(request.path_info), insecure=True)

    def get_response(self, request):
        if not self._should_handle(request.path_info):
            return super().get_response(request)
        try:
            response = self.serve(request)
        except Http404 as exc:
            if settings.DEBUG:
                response = debug.technical_404_response(request, exc)
            else:
                response = HttpResponseNotFound()
        close_with_response(response, request.close)
        return response


class StaticFilesConsumer(ViewConsumer):
    """``ViewConsumer`` that also serves static files."""

    handler_class = StaticFilesHandler
