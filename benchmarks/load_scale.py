"""Load a national-scale registry (issue #14) into a migrated PostgreSQL database, set-based.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/registry_bench_scale \\
        .venv/bin/python benchmarks/load_scale.py --patients 1000000
    .venv/bin/python benchmarks/load_scale.py --patients 100000 --rebuild

How: a *seed* cohort of ``--seed-patients`` (10,000) is written by the product's own synthetic
generator (``registry.demo.cohort.generate_cohort``: every row valid by construction), then tiled
``patients // seed`` times with one ``INSERT ... SELECT ... CROSS JOIN generate_series`` per table.
Copy ``k`` of a row gets ``id + k * stride`` (the stride is the seed's largest id of that table)
and every foreign key into a copied table moves by the same stride, so each copy is a separate,
consistent set of patients, procedures, levels, complications and leaks. Study ids, MRNs and
e-mail addresses are renumbered (``code-number + k * seed``) so the unique constraints hold; each
site's ``next_study_number`` is moved past the largest one. Follow-up events, survey responses
(six per patient on average) and bone-health actions are then written over the whole cohort by
the set-based SQL of ``benchmarks/bench_reports.py``, in one pass: every value is written by its
``INSERT`` (no ``UPDATE`` afterwards). The size is rounded down to a multiple of the seed.

Every constraint and trigger stays on: the rows go through the check constraints, unique
indexes, foreign keys (checked at each table's commit) and triggers of a migrated database.
History (simple-history) tables are left empty, as ``generate_cohort`` leaves them: the product
reads a patient without history as they are now (``reports.loaders``), and the audit trail of a
synthetic patient is simply empty.

Deterministic: the seed cohort is seeded (``--seed``), the tiling is arithmetic and the follow-up
SQL seeds PostgreSQL's ``random()`` with ``setseed``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/registry_bench_scale")
os.environ.setdefault("CELERY_BROKER_URL", "memory://")
os.environ.setdefault("ALLOWED_HOSTS", "localhost,testserver")

import datetime as dt  # noqa: E402

from benchmarks.common import setup_django  # noqa: E402

TODAY = dt.date(2026, 10, 1)
SITE_CODES = ("SA", "SB", "SC", "SD", "SE", "SF", "SG", "SH", "SI", "SJ")
# Tiled in this order: parents first, so that each table's foreign keys hold when it commits.
TILED = (
    "patients_patient",
    "patients_consentevent",
    "procedures_procedure",
    "procedures_treatedlevel",
    "procedures_complication",
    "procedures_cementleak",
)
TABLES = {
    "sites": "patients_site",
    "patients": "patients_patient",
    "consent_events": "patients_consentevent",
    "procedures": "procedures_procedure",
    "treated_levels": "procedures_treatedlevel",
    "leaks": "procedures_cementleak",
    "complications": "procedures_complication",
    "followup_events": "followup_followupevent",
    "survey_responses": "followup_surveyresponse",
    "bone_health_actions": "patients_bonehealthaction",
}
# A copy's study number: the seed's number plus k times the seed size (unique per site), never
# truncated (lpad cuts longer strings).
NUMBER = "(split_part(s.study_id, '-', 2)::bigint + k * %(seed)s)"
PATIENT_OVERRIDES = {
    "study_id": f"s.site_code || '-' || lpad({NUMBER}::text, greatest(6, length({NUMBER}::text)), '0')",
    "mrn": f"left(s.site_code, 1) || lpad({NUMBER}::text, greatest(8, length({NUMBER}::text)), '0')",
    "email": (
        "CASE WHEN s.email = '' THEN '' ELSE lower(s.site_code || '-' "
        f"|| lpad({NUMBER}::text, greatest(6, length({NUMBER}::text)), '0')) || '@example.test' END"
    ),
}


def counts() -> dict[str, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        result = {}
        for label, table in TABLES.items():
            cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - fixed table names
            result[label] = cursor.fetchone()[0]
    return result


def columns(cursor, table: str) -> list[str]:
    cursor.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped "
        "ORDER BY attnum",
        [table],
    )
    return [row[0] for row in cursor.fetchall()]


def foreign_keys(cursor, table: str) -> dict[str, str]:
    """Single-column foreign keys of ``table``: column -> referenced table."""
    cursor.execute(
        "SELECT a.attname, c.confrelid::regclass::text FROM pg_constraint c "
        "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
        "WHERE c.contype = 'f' AND c.conrelid = %s::regclass",
        [table],
    )
    return dict(cursor.fetchall())


def tile(cursor, *, copies: int, seed: int) -> None:
    strides = {}
    for table in TILED:
        cursor.execute(f"SELECT max(id) FROM {table}")  # noqa: S608 - fixed table names
        strides[table] = cursor.fetchone()[0] or 0
    for table in TILED:
        started = time.perf_counter()
        keys = foreign_keys(cursor, table)
        select = []
        for column in columns(cursor, table):
            if column == "id":
                select.append(f"s.id + k * {strides[table]}")
            elif table == "patients_patient" and column in PATIENT_OVERRIDES:
                select.append(PATIENT_OVERRIDES[column])
            elif keys.get(column) in strides:
                # NULL stays NULL (an unlinked leak, a complication without a level).
                select.append(f"s.{column} + k * {strides[keys[column]]}")
            else:
                select.append(f"s.{column}")
        source = table
        if table == "patients_patient":
            source = "(SELECT p.*, site.code AS site_code FROM patients_patient p JOIN patients_site site ON site.id = p.site_id)"
        # Identifiers come from the catalogue and the fixed list above, numbers from argparse.
        sql = (
            f"INSERT INTO {table} ({', '.join(columns(cursor, table))}) "  # noqa: S608
            f"SELECT {', '.join(select)} FROM {source} s CROSS JOIN generate_series(1, %(copies)s) AS k "
            f"WHERE s.id <= {strides[table]}"
        )
        with transaction_atomic():
            cursor.execute(sql.replace("%(seed)s", str(seed)), {"copies": copies - 1})
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"  # noqa: S608
        )
        print(f"  {table}: x{copies} in {time.perf_counter() - started:.0f} s", flush=True)
    cursor.execute(
        "UPDATE patients_site site SET next_study_number = numbers.top + 1 FROM ("
        " SELECT site_id, max(split_part(study_id, '-', 2)::bigint) AS top FROM patients_patient GROUP BY site_id"
        ") numbers WHERE numbers.site_id = site.id"
    )


def wal_position(cursor) -> str:
    cursor.execute("SELECT pg_current_wal_lsn()::text")
    return cursor.fetchone()[0]


def transaction_atomic():
    from django.db import transaction

    return transaction.atomic()


def load(*, patients: int, seed_patients: int, seed: int, rebuild: bool) -> dict:
    from django.db import connection

    from benchmarks.bench_reports import BONE_SQL, FOLLOWUP_SQL, REPEATS_SQL, RESPONSES_SQL, run_statements
    from registry.demo.cohort import generate_cohort
    from registry.patients.models import Site

    seed_patients = min(seed_patients, patients)
    copies = patients // seed_patients
    if rebuild:
        with connection.cursor() as cursor:
            cursor.execute(
                "TRUNCATE reports_quarterlyreport, followup_outboundmessage, followup_surveyinvitation, "
                "followup_surveyresponse, followup_followupevent, patients_bonehealthaction, "
                "procedures_cementleak, procedures_complication, procedures_treatedlevel, procedures_procedure, "
                "patients_consentevent, patients_patient RESTART IDENTITY CASCADE"
            )
            cursor.execute("UPDATE patients_site SET next_study_number = 1")
    have = counts()
    if have["patients"]:
        print(f"already loaded (use --rebuild to start again): {have}", flush=True)
        return have
    timings = {}
    started = time.perf_counter()
    sites = [
        Site.objects.get_or_create(
            code=code, defaults={"name": f"Scale site {code}", "contact_email": f"registry-{code.lower()}@bench.test"}
        )[0]
        for code in SITE_CODES
    ]
    print(f"seed cohort: {seed_patients:,} patients over {len(sites)} sites", flush=True)
    generate_cohort(sites=sites, n_patients=seed_patients, seed=seed, today=TODAY, batch_size=5000)
    timings["seed_s"] = round(time.perf_counter() - started)
    print(f"  in {timings['seed_s']} s; tiling x{copies}", flush=True)
    step = time.perf_counter()
    with connection.cursor() as cursor:
        tile(cursor, copies=copies, seed=seed_patients)
    timings["tile_s"] = round(time.perf_counter() - step)
    step = time.perf_counter()
    print("follow-up events, responses, bone-health actions", flush=True)
    with connection.cursor() as cursor:
        wal_start = wal_position(cursor)
        for name, script, params in (
            ("events", FOLLOWUP_SQL, {"today": TODAY}),
            ("responses", RESPONSES_SQL, {}),
            ("bone_health", BONE_SQL, {"today": TODAY}),
        ):
            started_script = time.perf_counter()
            with transaction_atomic():
                run_statements(cursor, script, params)
            timings[f"{name}_s"] = round(time.perf_counter() - started_script)
        started_script = time.perf_counter()
        missing = 6 * copies * seed_patients - counts()["survey_responses"]
        if missing > 0:
            with transaction_atomic():
                run_statements(cursor, REPEATS_SQL, {"extra": missing})
        timings["repeats_s"] = round(time.perf_counter() - started_script)
        # What the step wrote, whatever else the machine was doing (its time depends on the load).
        cursor.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s::pg_lsn)", [wal_start])
        timings["followup_wal_mib"] = round(cursor.fetchone()[0] / 2**20)
    timings["followup_s"] = round(time.perf_counter() - step)
    step = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    timings["vacuum_s"] = round(time.perf_counter() - step)
    timings["total_s"] = round(time.perf_counter() - started)
    return {**counts(), **timings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=1_000_000)
    parser.add_argument("--seed-patients", type=int, default=10_000, help="size of the generated cohort that is tiled")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--rebuild", action="store_true", help="empty the clinical tables first")
    args = parser.parse_args()
    if args.patients < 1 or args.seed_patients < 1:
        parser.error("sizes must be positive")
    setup_django(migrate=True)
    print(load(patients=args.patients, seed_patients=args.seed_patients, seed=args.seed, rebuild=args.rebuild))


if __name__ == "__main__":
    main()
