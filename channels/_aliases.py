"""The default channel-layer alias, in a module that imports nothing.

``channels`` re-exports it as ``channels.DEFAULT_CHANNEL_LAYER``, where 1.x
kept it; the modules of this package import it from here, so that none of
them has to import the package root (which imports them back).
"""

__all__ = ["DEFAULT_CHANNEL_LAYER"]

#: The alias used when code does not name a channel layer.
DEFAULT_CHANNEL_LAYER = "default"
