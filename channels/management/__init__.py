"""Management commands of Channels (SPEC 5.17)."""
