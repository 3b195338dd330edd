"""``python -m daphne``: the same as the ``daphne`` command."""

from .cli import CommandLineInterface

CommandLineInterface.entrypoint()
