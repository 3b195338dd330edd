"""The one model of the ``channels`` app: the anchor of the layer page in Django's admin.

See docs/operating.rst, "The admin page". Django's admin lists models, so
the live layer page (``channels/admin.py``) is registered against ``Layer``:
an unmanaged model with no table, no migrations and no permissions, which
only gives the page its place in the admin index ("Channels" / "Channel
layer") and its URL, ``admin/channels/layer/``.
"""

from django.db import models

__all__ = ["Layer"]


class Layer(models.Model):
    """Stands for the channel layer in the admin; it is never saved or queried."""

    # Explicit, so projects without DEFAULT_AUTO_FIELD get no warning for it.
    id = models.AutoField(primary_key=True)

    class Meta:
        managed = False
        default_permissions = ()
        verbose_name = "channel layer"
        verbose_name_plural = "channel layer"

    def __str__(self) -> str:
        return "channel layer"
