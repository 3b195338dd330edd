"""``python -m daphne.irc`` runs ``daphne-irc``."""

from .cli import main

main()
