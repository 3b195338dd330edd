"""Template tags of the ``channels`` app (the admin layer page's number formats)."""
