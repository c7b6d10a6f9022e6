"""What every benchmark script shares: its own PostgreSQL database, created when missing."""

from urllib.parse import urlparse


def ensure_database(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    with psycopg.connect(parsed._replace(path="/postgres").geturl(), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(*, migrate: bool = True) -> None:
    """Django on the benchmark's database (DATABASE_URL), created and migrated when asked."""
    import os

    import django

    ensure_database(os.environ["DATABASE_URL"])
    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)


def replay_seconds(statements: list[str]) -> float:
    """Statements executed again on a plain cursor, in one transaction rolled back: what the
    database alone costs of a request or a sweep (the same-run baseline of a query count)."""
    import time

    from django.db import connection, transaction

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)
        transaction.set_rollback(True)
    return time.perf_counter() - started
