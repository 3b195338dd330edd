"""Sphinx configuration of the channels-classic documentation."""

from asgi._version import __version__

project = "channels-classic"
author = "the channels-classic developers"
copyright = "2026, the channels-classic developers"
release = __version__
extensions = ["sphinx.ext.autodoc"]
exclude_patterns = ["_build"]
# furo shows code lines of up to ~90 characters whole; alabaster cut them at ~66.
html_theme = "furo"
html_static_path = ["_static"]
html_css_files = ["log-output.css"]
nitpicky = False
