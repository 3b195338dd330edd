"""``runserver`` (daphne plus workers in one process) and ``runworker``."""
