"""``manage.py runserver``: daphne and worker threads in one process (SPEC 5.17)."""

from django.core.management.commands.runserver import Command as RunserverCommand

__all__ = ["Command"]


class Command(RunserverCommand):
    protocol = "http"
