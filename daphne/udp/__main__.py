"""``python -m daphne.udp`` runs ``daphne-udp``."""

from .cli import main

main()
