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
def history_rewritable():
    """Back-date a test's audit history: the database refuses every UPDATE of a history table
    (registry/core/append_only.py). Triggers are skipped for this block only, the way a replica
    applies changes (needs a superuser, which the test database has and the application does not)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        try:
            yield
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")
