"""The one version number: of the channels-classic distribution and of every
package in it (``asgi``, ``asgi_redis``, ``daphne``, ``channels``).

pyproject.toml reads it from here (setuptools ``attr:``), and each package's
``__version__`` imports it, so a release changes this line and nothing else.
It lives in ``asgi`` because every other package may import ``asgi``.
"""

__all__ = ["__version__"]

__version__ = "1.0.0.dev0"
