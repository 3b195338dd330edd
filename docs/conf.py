"""Sphinx configuration of the channels-classic documentation."""

project = "channels-classic"
author = "the channels-classic developers"
copyright = "2026, the channels-classic developers"
release = "1.0.0.dev0"
extensions = ["sphinx.ext.autodoc"]
exclude_patterns = ["_build", "samples"]
html_theme = "alabaster"
nitpicky = False
