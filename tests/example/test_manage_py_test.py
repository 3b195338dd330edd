"""channels.test works under Django's own runner: ``manage.py test`` runs the
example project's ChannelTestCase tests."""

import os
import subprocess
import sys

import pytest

from .stack import EXAMPLE_DIR

pytestmark = pytest.mark.integration


def test_manage_py_test_runs_the_example_channel_tests(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "test", "example", "-v", "2"],
        cwd=EXAMPLE_DIR,
        env={
            **os.environ,
            "EXAMPLE_DB": str(tmp_path / "db.sqlite3"),
            "DJANGO_SETTINGS_MODULE": "example.settings",
        },
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Ran 4 tests" in result.stderr
    assert "test_a_signed_in_user_is_accepted_and_hears_the_room" in result.stderr
    assert "\nOK" in result.stderr
