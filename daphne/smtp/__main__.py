"""``python -m daphne.smtp`` runs ``daphne-smtp``."""

from .cli import main

main()
