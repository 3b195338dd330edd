"""One version: the distribution's, reported by every package's ``__version__``."""

import importlib.metadata

import pytest

import asgi
import asgi_redis
import channels
import daphne
from asgi._version import __version__

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("package", [asgi, asgi_redis, daphne, channels], ids=lambda p: p.__name__)
def test_every_package_reports_the_one_version(package):
    assert package.__version__ == __version__


def test_the_installed_distribution_has_the_same_version():
    # Editable installs record the version when installed: after changing
    # asgi/_version.py, reinstall (pip install -e .) before this passes.
    assert importlib.metadata.version("channels-classic") == __version__


def test_the_version_is_a_1x_pep440_version():
    # 1.x code tells Channels 1 from 2 by the major number.
    major, minor, *_ = __version__.split(".")
    assert (major, minor.isdigit()) == ("1", True)
