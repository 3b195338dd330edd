"""daphne-slack: the Slack interface server (Events API in, Web API out).

See :mod:`daphne.slack.server` and docs/topics/slack.rst.
"""

from .server import SlackInterface

__all__ = ["SlackInterface"]
