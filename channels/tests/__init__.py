"""Deprecated alias of :mod:`channels.test`, kept for 1.0-era imports."""

import warnings

from channels.test import *  # noqa: F403
from channels.test import __all__  # noqa: F401

warnings.warn(
    "channels.tests is deprecated; import from channels.test", DeprecationWarning, stacklevel=2
)
