"""A small Django project the reliability tests run as real daphne and runworker processes.

Everything it needs comes from the environment (``REL_*`` variables, set by
``tests.support.stack.Stack``), so one project serves plain, sharded, AUTH,
TLS and encrypted Redis set-ups.
"""
