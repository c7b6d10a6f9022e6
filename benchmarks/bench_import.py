"""Benchmark: import a 50,000-level legacy series (target: under 60 s on the 2-core machine).

    .venv/bin/python benchmarks/bench_import.py [--levels 50000] [--format csv|xlsx|both]
    .venv/bin/python benchmarks/bench_import.py --history [--answers 100000] [--format csv]
    .venv/bin/python benchmarks/bench_import.py --commit-only --levels 20000 --format csv

Runs against its own PostgreSQL database ``registry_bench_import`` (dropped and re-created, then
migrated, on every run; override with BENCH_DATABASE_URL). For each format it times, on an empty
site: the preview (read + validate, nothing written), the commit (read + validate again + write
with history rows, in one transaction), the follow-up planning the worker does after the commit
for procedures with a window still open, and a second import of the same file (everything
recognised as existing, nothing written). Prints one line per step; BENCHMARKS.md records them.

Each commit is then set beside two baselines measured in the same run on the same rows (every row
the commit wrote: patients, consent events, procedures, levels, leaks, complications, bone-health
actions, follow-up events, answers): ``bulk_create`` of those rows as model objects, and a plain
``COPY`` of their values, each into the emptied tables inside a transaction that is rolled back
(and that ``COPY`` once more followed by its deferred foreign-key checks, which a rolled-back
transaction never runs and a committed one, like the import's, runs at the commit).
The ratios (baseline time / import time; issue #14.6 asks ≥ 0.3 for COPY) are printed with the
peak memory of the process and the machine's load average.

With ``--history`` it commits, in the same run and database, the levels-only series (the
baseline: today's template columns) and the same series as a full record — a complication on
every tenth level and ``--answers`` survey answers in long format, with the follow-up history
they rebuild — and prints the ratio of the two commit times (issue #13: at most 2×).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/registry_bench_import"


def recreate_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--levels", type=int, default=50_000)
    parser.add_argument("--format", choices=["csv", "xlsx", "both"], default="both")
    parser.add_argument("--history", action="store_true", help="Baseline vs full record with answers.")
    parser.add_argument("--answers", type=int, default=100_000)
    parser.add_argument("--commit-only", action="store_true", help="Only the commit and its baselines.")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)

    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    recreate_database(url)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("REGISTRY_VAR_DIR", str(ROOT / "var" / "bench"))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    call_command("migrate", verbosity=0)
    from registry.accounts.models import Role, SiteMembership
    from registry.imports import sample
    from registry.imports.services import import_file, import_followup_plan
    from registry.patients.models import Site
    from registry.procedures.models import CementProduct, TreatedLevel

    product = CementProduct.objects.create(manufacturer="Acme Spine", brand="VertaFix HV", gtin="05012345678900")
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user("bench_coordinator", password=None)
    rows = sample.legacy_rows(args.levels, product=product.gtin, today=timezone.localdate())
    formats = ["csv", "xlsx"] if args.format == "both" else [args.format]
    if args.history:
        history_run(rows, user, args, formats[0])
        return
    print(
        f"{args.levels} levels, {len({r['mrn'] for r in rows})} patients; PostgreSQL {connection.pg_version // 10000}"
    )
    for index, file_format in enumerate(formats):
        site = Site.objects.create(
            code=f"BENCH{chr(65 + index)}", name=f"Bench {file_format}", contact_email="b@x.test"
        )
        SiteMembership.objects.create(user=user, site=site, role=Role.COORDINATOR)
        user.__dict__.pop("_registry_site_ids", None)
        started = time.perf_counter()
        data = sample.to_xlsx(rows) if file_format == "xlsx" else sample.to_csv(rows)
        print(f"[{file_format}] file: {len(data) / 1e6:.1f} MB, written in {time.perf_counter() - started:.1f} s")
        steps = (("preview (validate only)", False), ("commit", True), ("re-import (no change)", True))
        for step, commit in steps[1:2] if args.commit_only else steps:
            started, cpu = time.perf_counter(), time.process_time()
            plan = import_file(site=site, acting_user=user, name=f"series.{file_format}", data=data, commit=commit)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            counts = plan.counts
            print(
                f"[{file_format}] {step}: {elapsed:.1f} s (this process's CPU {cpu:.1f} s; the rest is the "
                f"database's work and waiting) — levels new {counts['levels_new']}, "
                f"unchanged {counts['levels_unchanged']}, follow-up to plan {counts['followup_to_plan']}"
            )
            if step == "commit":
                same_rows_baselines(site, elapsed)
                if args.commit_only:
                    break
                # What the worker does after the commit (plan_import_followup_task), timed apart.
                started = time.perf_counter()
                import_followup_plan(batch_id=plan.batch.pk, limit=10**9)
                elapsed = time.perf_counter() - started
                print(f"[{file_format}] follow-up planning after commit (worker): {elapsed:.1f} s")
        assert TreatedLevel.objects.filter(procedure__site=site).count() == args.levels


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load() -> str:
    return "load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def same_rows_baselines(site, import_seconds: float) -> None:
    """``bulk_create`` and ``COPY`` of the rows the import wrote for ``site``, into the emptied
    tables, each rolled back."""
    from django.db import connection, transaction

    from registry.followup.models import FollowUpEvent, SurveyResponse
    from registry.patients.models import BoneHealthAction, ConsentEvent, Patient
    from registry.procedures.models import CementLeak, Complication, Procedure, TreatedLevel

    # Each written model, by its path to the site: the baselines write this site's rows only.
    written = {
        Patient: "site",
        ConsentEvent: "patient__site",
        Procedure: "site",
        TreatedLevel: "procedure__site",
        Complication: "procedure__site",
        CementLeak: "treated_level__procedure__site",
        BoneHealthAction: "patient__site",
        FollowUpEvent: "site",
        SurveyResponse: "patient__site",
    }
    objects = {model: list(model.objects.filter(**{path: site}).order_by("pk")) for model, path in written.items()}
    rows = sum(len(objs) for objs in objects.values())
    quote = connection.ops.quote_name
    tables = ", ".join(quote(model._meta.db_table) for model in written)

    def timed(write) -> float:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(f"TRUNCATE {tables} CASCADE")
            started = time.perf_counter()
            write()
            elapsed = time.perf_counter() - started
            transaction.set_rollback(True)
        return elapsed

    def bulk_create() -> None:
        for model, objs in objects.items():
            model.objects.bulk_create(objs, batch_size=2000)

    # COPY gets its values prepared beforehand, outside its time: the baseline is the database's work.
    prepared = {}
    for model, objs in objects.items():
        fields = model._meta.concrete_fields
        columns = ", ".join(quote(f.column) for f in fields)
        values = [[f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields] for obj in objs]
        prepared[model] = (f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN", values)

    def copy() -> None:
        with connection.cursor() as cursor:
            for statement, values in prepared.values():
                with cursor.cursor.copy(statement) as out:
                    for row in values:
                        out.write_row(row)

    def copy_checked() -> None:
        # The foreign keys are DEFERRABLE INITIALLY DEFERRED: a rolled-back COPY never checks them,
        # a committed one (and the import) does, at the commit.
        copy()
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")

    bulk_seconds, copy_seconds, checked_seconds = timed(bulk_create), timed(copy), timed(copy_checked)
    print(
        f"    same {rows:,} rows: import {import_seconds:.1f} s; bulk_create {bulk_seconds:.1f} s "
        f"(import = {bulk_seconds / import_seconds:.2f}× bulk_create); COPY {copy_seconds:.1f} s "
        f"(import = {copy_seconds / import_seconds:.2f}× COPY; target ≥ 0.3); COPY with its foreign-key checks "
        f"{checked_seconds:.1f} s (import = {checked_seconds / import_seconds:.2f}×); peak {peak_mib():.0f} MiB; {load()}"
    )


def history_run(rows, user, args, file_format: str) -> None:
    from django.utils import timezone

    from registry.accounts.models import Role, SiteMembership
    from registry.followup.models import FollowUpEvent, SurveyResponse
    from registry.imports import sample
    from registry.imports.services import import_file
    from registry.patients.models import Site
    from registry.procedures.models import Complication

    full = sample.with_history(rows, answers=args.answers, complication_every=10, today=timezone.localdate())
    variants = (
        ("baseline: levels only", rows, sample.COLUMNS),
        ("full record: + complications + answers + history", full, sample.HISTORY_COLUMNS),
    )
    times = []
    for index, (label, variant, columns) in enumerate(variants):
        site = Site.objects.create(code=f"HIST{chr(65 + index)}", name=label[:40], contact_email="b@x.test")
        SiteMembership.objects.create(user=user, site=site, role=Role.COORDINATOR)
        user.__dict__.pop("_registry_site_ids", None)
        data = sample.to_xlsx(variant, columns) if file_format == "xlsx" else sample.to_csv(variant, columns)
        started = time.perf_counter()
        plan = import_file(site=site, acting_user=user, name=f"series.{file_format}", data=data)
        times.append(time.perf_counter() - started)
        same_rows_baselines(site, times[-1])
        print(
            f"[{file_format}] {label}: {len(variant)} rows, {len(data) / 1e6:.1f} MB, commit {times[-1]:.1f} s — "
            f"levels {plan.counts['levels_new']}, complications {Complication.objects.filter(procedure__site=site).count()}, "
            f"answers {SurveyResponse.objects.filter(procedure__site=site).count()}, "
            f"events {FollowUpEvent.objects.filter(site=site).count()}"
        )
    print(f"[{file_format}] full record / baseline commit: {times[1] / times[0]:.2f}× (target ≤ 2×)")


if __name__ == "__main__":
    main()
