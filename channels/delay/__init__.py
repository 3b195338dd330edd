"""The delay server: messages sent to ``asgi.delay`` are stored and
delivered to their channel once their delay has passed.

See docs/topics/delay.rst.

Add ``"channels.delay"`` to ``INSTALLED_APPS`` and run ``manage.py rundelay``.
The app's label is ``channels_delay`` (1.x used ``"channels.delay"``, which
modern Django rejects because a label must be a Python identifier); the
table is ``channels_delay_delayedmessage``.
"""

default_app_config = "channels.delay.apps.DelayConfig"
