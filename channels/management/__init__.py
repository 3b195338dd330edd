"""Management commands of Channels.

See docs/topics/workers.rst.
"""
