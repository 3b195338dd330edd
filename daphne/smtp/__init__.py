"""daphne-smtp: the ASGI 1 email interface server (spec section 1.8, "Email").

Mail accepted over SMTP becomes ``email.receive`` messages; see
:mod:`daphne.smtp.server`.
"""

from .server import SMTPServer

__all__ = ["SMTPServer"]
