"""The dashboard fracture section's change marker (``reports/fracture_marker.py``) against the
stamp it replaced (COUNT(*) and MAX(updated_at) of six whole tables, kept here as the baseline).

Reads: each query run ``--loop`` times in a row (wall and this process's CPU), and EXPLAIN
ANALYZE of each. Writes, the marker's cost to writers: ``--transactions`` committed transactions of
one single-row UPDATE of a cement leak (what a service does; the commit's flush dominates), the same
UPDATEs in one transaction, the same in one DO block (the server's time alone), and one UPDATE of
every leak (these three with their deferred work fired by SET CONSTRAINTS ALL IMMEDIATE, then
rolled back), each with the marker's trigger and, as the
baseline, with it disabled. Every figure is printed beside its same-run baseline as a ratio, with
the peak memory of this process and the 1-minute load average before and after.

Writes to the leaks table (an UPDATE that sets nothing new, and ALTER TABLE … DISABLE TRIGGER):
run it on a database of your own, loaded by ``bench_reports.py --runs 0 --requests 0``.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_mine .venv/bin/python benchmarks/bench_fracture_marker.py
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

OLD_STAMP_TABLES = (
    "fractures_fractureevent",
    "fractures_reintervention",
    "followup_surveyresponse",
    "procedures_complication",
    "procedures_procedure",
    "procedures_cementleak",
)
OLD_STAMP = "SELECT " + ", ".join(  # noqa: S608 - constant names
    f'(SELECT COUNT(*) FROM "{t}"), (SELECT MAX(updated_at) FROM "{t}")'  # noqa: S608
    for t in OLD_STAMP_TABLES
)


def load() -> str:
    return f"{os.getloadavg()[0]:.2f}"


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def loop(run, n: int) -> tuple[float, float]:
    """Wall and CPU (this process) seconds of ``n`` calls."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        run()
    return time.perf_counter() - wall, time.process_time() - cpu


def paired(new, base, n: int, rounds: int, *, before=None, after=None) -> tuple[tuple, tuple]:
    """``rounds`` alternating rounds of the baseline and the new; the median round of each."""
    news, bases = [], []
    for _ in range(rounds):
        if before:
            before()
        try:
            bases.append(loop(base, n))
        finally:
            if after:
                after()
        news.append(loop(new, n))
    return statistics.median_low(news), statistics.median_low(bases)


def explain(cursor, sql: str) -> str:
    cursor.execute("EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, SUMMARY ON) " + sql)
    return "\n".join("    " + row[0] for row in cursor.fetchall())


def compare(name: str, new: tuple[float, float], base: tuple[float, float], n: int) -> None:
    per = 1000 / n
    print(
        f"{name}: {new[0] * per:.3f} ms wall, {new[1] * per:.3f} ms CPU each; baseline {base[0] * per:.3f} ms wall, "
        f"{base[1] * per:.3f} ms CPU; ratio wall {new[0] / base[0]:.3g}, CPU {new[1] / base[1]:.3g}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--loop", type=int, default=50)
    parser.add_argument("--transactions", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from benchmarks.common import setup_django

    setup_django()
    from django.db import connection, transaction

    from reports import fracture_marker

    with connection.cursor() as cursor:
        sizes = {}
        for table in OLD_STAMP_TABLES:
            cursor.execute(f'SELECT COUNT(*) FROM "{table}"')  # noqa: S608 - constant names
            sizes[table] = cursor.fetchone()[0]
    print("rows:", ", ".join(f"{t} {n:,}" for t, n in sizes.items()), f"(load {load()})")

    def old_stamp():
        with connection.cursor() as cursor:
            cursor.execute(OLD_STAMP)
            cursor.fetchone()

    old_stamp(), fracture_marker.read()  # warm: connection, plans, buffers
    before = load()
    new, base = paired(fracture_marker.read, old_stamp, args.loop, args.rounds)
    compare(f"read x{args.loop}, median of {args.rounds} rounds (marker vs old stamp)", new, base, args.loop)
    print(f"  load {before} -> {load()}, peak {peak_mib():.0f} MiB")
    with connection.cursor() as cursor:
        print("EXPLAIN ANALYZE, old stamp:\n" + explain(cursor, OLD_STAMP))
        marker_sql = f"SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM {fracture_marker.MARKER}"  # noqa: S608
        print("EXPLAIN ANALYZE, marker:\n" + explain(cursor, marker_sql))

    leak = "procedures_cementleak"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {leak} ORDER BY id LIMIT %s", [args.transactions])  # noqa: S608
        ids = [row[0] for row in cursor.fetchall()]

    def single_row_transactions():
        for leak_id in ids:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"UPDATE {leak} SET id = id WHERE id = %s", [leak_id])  # noqa: S608

    def single_row_statements_in_one_transaction():
        with transaction.atomic(), connection.cursor() as cursor:
            for leak_id in ids:
                cursor.execute(f"UPDATE {leak} SET id = id WHERE id = %s", [leak_id])  # noqa: S608
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the deferred work, as at commit
            transaction.set_rollback(True)

    def statements_on_the_server():
        """The same UPDATEs in a DO block: the server's time alone, without a round trip each."""
        with transaction.atomic(), connection.cursor() as cursor:
            update = f"UPDATE {leak} SET id = id WHERE id = leak_id"  # noqa: S608 - constant names
            rows = f"SELECT id FROM {leak} ORDER BY id LIMIT {len(ids)}"  # noqa: S608
            cursor.execute(f"DO $$ DECLARE leak_id bigint; BEGIN FOR leak_id IN {rows} LOOP {update}; END LOOP; END $$")
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            transaction.set_rollback(True)

    def every_leak_in_one_statement():
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"UPDATE {leak} SET id = id")  # noqa: S608
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the deferred work, as at commit
            transaction.set_rollback(True)

    def set_trigger(enabled: bool):
        with connection.cursor() as cursor:
            state = "ENABLE" if enabled else "DISABLE"
            cursor.execute(f"ALTER TABLE {leak} {state} TRIGGER reports_fracture_data_written")

    for name, run, n in (
        (f"write: {len(ids)} committed transactions of one single-row UPDATE", single_row_transactions, len(ids)),
        (
            f"write: {len(ids)} single-row UPDATEs in one transaction (deferred work fired, rolled back)",
            single_row_statements_in_one_transaction,
            len(ids),
        ),
        (f"write: the same {len(ids)} UPDATEs in one DO block, server side", statements_on_the_server, len(ids)),
        (
            f"write: one UPDATE of {sizes[leak]:,} leaks (deferred work fired, rolled back)",
            every_leak_in_one_statement,
            1,
        ),
    ):
        before = load()
        run()  # warm
        new, base = paired(run, run, 1, args.rounds, before=lambda: set_trigger(False), after=lambda: set_trigger(True))
        compare(f"{name}, median of {args.rounds} rounds (with marker vs without)", new, base, n)
        print(f"  load {before} -> {load()}, peak {peak_mib():.0f} MiB")


if __name__ == "__main__":
    main()
