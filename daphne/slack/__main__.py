"""``python -m daphne.slack`` runs ``daphne-slack``."""

from .cli import main

main()
