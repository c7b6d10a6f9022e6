import time
from contextlib import contextmanager

import pytest


def wait_for(predicate, timeout: float = 30, interval: float = 0.2, message: str = "condition"):
    """Poll ``predicate`` until it returns something truthy (a worker runs in another process)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"Timed out after {timeout}s waiting for {message}")


@contextmanager
def history_rewritable(history_model):
    """Back-date a test's audit history: the database refuses every UPDATE of a history table
    (registry/core/append_only.py), so the trigger is switched off for this block only."""
    from django.db import connection

    from registry.core.append_only import TRIGGER

    table = connection.ops.quote_name(history_model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {TRIGGER}")
        try:
            yield
        finally:
            cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER {TRIGGER}")
