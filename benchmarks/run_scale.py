"""National scale (issue #14): every figure beside a baseline measured in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/registry_bench_scale_1m \\
        .venv/bin/python benchmarks/run_scale.py                      # every step
    .venv/bin/python benchmarks/run_scale.py --only case_pages dashboard --requests 20

Run ``benchmarks/load_scale.py`` on the same database first. Each step runs in a fresh process,
so its peak memory (``ru_maxrss``) is its own; the load average (``os.getloadavg()``, 1 minute)
is read before and after each step: the machine is shared and the figures are upper bounds.

Steps and their same-run baselines:

- ``quarterly``: ``reports.services.quarterly_reports_build`` for the quarter before 1 Oct 2026
  (every site and the registry) vs the committed plain SQL computation of the headline figures
  of the same reports (``benchmarks/sql/report_baseline.sql``, per site and registry).
- ``dashboard``: GET /reports/ cold (cache cleared before each request) as the administrator
  (all sites) and as a reviewer of one site, for several filter combinations; p95 vs the same
  baseline SQL for that scope.
- ``case_pages``: the patient list as a coordinator of every site (the longest list) for every
  list filter, a filter combination, a deep page, name, study id and MRN searches; p95 and the
  SQL queries of one request vs replaying that request's SQL statements on a cursor (what the
  database alone costs).
- ``dispatch``: ``--dispatch`` due invitations sent in-process and as many by a real
  ``celery worker`` (prefork × ``--concurrency``) to a local SMTP sink
  (``bench_followup.dispatch_vs_raw``) vs a raw single-connection ``send_messages`` of the same
  emails to the same sink, before and after. Writes to the database: up to 2 × ``--dispatch``
  scheduled windows are moved to open today (the set's dates are those of 1 Oct 2026, the worker
  sends on the real clock) and exactly those are opened; the step exits with a message when no
  such window is left.
- ``import``: ``benchmarks/bench_import.py`` in a subprocess (its own database); its output,
  with whatever baselines it prints, is shown as is.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/registry_bench_scale")
os.environ.setdefault("CELERY_BROKER_URL", "memory://")
os.environ.setdefault("ALLOWED_HOSTS", "localhost,testserver")
# Static files without a collectstatic manifest; Django then keeps the last queries in memory.
os.environ.setdefault("DEBUG", "true")

from benchmarks.common import replay_seconds  # noqa: E402

STEPS = ("quarterly", "dashboard", "case_pages", "dispatch", "import")
TODAY = dt.date(2026, 10, 1)
BASELINE_SQL = ROOT / "benchmarks" / "sql" / "report_baseline.sql"


def peak_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, -(-len(ordered) * 95 // 100) - 1)]


def baseline_figures(
    *, end: dt.date, site_ids: list[int] | None, performed_from=None, procedure_type="", indication=""
) -> tuple[float, list[tuple]]:
    from django.db import connection

    params = {
        "end": end,
        "site_ids": site_ids,
        "performed_from": performed_from,
        "procedure_type": procedure_type,
        "indication": indication,
    }
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(BASELINE_SQL.read_text(), params)
        rows = cursor.fetchall()
    return time.perf_counter() - started, rows


def step_quarterly(args) -> dict:
    from django.db import connection

    from reports import services

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE reports_quarterlyreport")
    year, quarter = services.previous_quarter(TODAY)
    _, end = services.quarter_bounds(year, quarter)
    sql_s, rows = baseline_figures(end=end, site_ids=None)
    started = time.perf_counter()
    reports = services.quarterly_reports_build(year=year, quarter=quarter, today=TODAY)
    build_s = time.perf_counter() - started
    return {
        "rows": [
            {
                "measure": f"quarterly build {year} Q{quarter} ({len(reports)} reports)",
                "figure": f"{build_s:.1f} s",
                "baseline": f"SQL {sql_s:.1f} s ({len(rows)} scopes)",
                "ratio": build_s / sql_s,
            }
        ]
    }


def _timed(client, url: str, data: dict | None = None) -> float:
    started = time.perf_counter()
    response = client.get(url, data or {})
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"{url} {data}: HTTP {response.status_code}")
    return elapsed


def step_dashboard(args) -> dict:
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.test import Client

    from registry.accounts.models import Role, SiteMembership
    from registry.patients.models import Site

    users = get_user_model().objects
    admin, _ = users.get_or_create(username="scale-admin", defaults={"is_superuser": True, "is_staff": True})
    reviewer, _ = users.get_or_create(username="scale-reviewer")
    site = Site.objects.order_by("code").first()
    SiteMembership.objects.get_or_create(user=reviewer, site=site, defaults={"role": Role.REVIEWER})
    # Whole quarters: what a reviewer may choose (reports.forms.CohortFilterForm).
    filters = {
        "no filter": {},
        "PKP": {"procedure_type": "PKP"},
        "osteoporotic, 2026 Q2": {
            "indication": "osteoporotic",
            "performed_from": "2026-04-01",
            "performed_to": "2026-06-30",
        },
        "PVP + metastasis, 2026 Q1": {
            "procedure_type": "PVP",
            "indication": "metastasis",
            "performed_from": "2026-01-01",
            "performed_to": "2026-03-31",
        },
    }
    rows = []
    for label, user, site_ids in (
        ("administrator, all sites", admin, None),
        (f"reviewer, site {site.code}", reviewer, [site.id]),
    ):
        client = Client(HTTP_HOST="localhost")
        client.force_login(user)
        for name, data in list(filters.items())[: args.dashboard_filters]:
            cold = []
            for _ in range(args.cold_requests):
                cache.clear()
                cold.append(_timed(client, "/reports/", data))
            sql_s, _ = baseline_figures(
                end=dt.date.fromisoformat(data.get("performed_to", TODAY.isoformat())),
                site_ids=site_ids,
                performed_from=data.get("performed_from"),
                procedure_type=data.get("procedure_type", ""),
                indication=data.get("indication", ""),
            )
            rows.append(
                {
                    "measure": f"dashboard cold, {label}, {name}",
                    "figure": f"p95 {p95(cold) * 1000:.0f} ms (median {statistics.median(cold) * 1000:.0f})",
                    "baseline": f"SQL {sql_s * 1000:.0f} ms",
                    "ratio": p95(cold) / sql_s,
                }
            )
    return {"rows": rows}


def _explain(path: str, label: str, statements: list[str]) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of a case's list queries (the bounded count, the page of ids, the
    page's rows), appended to ``path``: which index serves each filter."""
    from django.db import connection, transaction

    with open(path, "a") as out, transaction.atomic(), connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
            plan = "\n".join(row[0] for row in cursor.fetchall())
            out.write(f"## {label}\n{sql}\n{plan}\n\n")
        transaction.set_rollback(True)


def step_case_pages(args) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment
    from django.urls import reverse

    from registry.accounts.models import Role, SiteMembership
    from registry.patients.models import FollowUpStatus, Patient, Site
    from registry.procedures.models import Indication, ProcedureType

    setup_test_environment()
    user, _ = get_user_model().objects.get_or_create(username="scale-coordinator")
    for site in Site.objects.all():
        SiteMembership.objects.get_or_create(user=user, site=site, defaults={"role": Role.COORDINATOR})
    client = Client()
    client.force_login(user)
    list_url = reverse("patients:list")
    someone = Patient.objects.order_by("id").values("given_name", "family_name", "study_id", "mrn")[
        Patient.objects.count() // 2
    ]
    cases: list[tuple[str, dict, str | None]] = [
        ("list, no filter", {}, None),
        ("list, page 2000", {"page": 2000}, None),
        ("list, PKP + in follow-up", {"procedure_type": "PKP", "followup_status": "active"}, None),
    ]
    cases += [(f"list, type {value}", {"procedure_type": value}, None) for value in ProcedureType.values]
    cases += [(f"list, indication {value}", {"indication": value}, None) for value in Indication.values]
    cases += [(f"list, follow-up {value}", {"followup_status": value}, None) for value in FollowUpStatus.values]
    cases += [
        ("search, family name", {}, someone["family_name"]),
        ("search, given + family name", {}, f"{someone['given_name']} {someone['family_name']}"),
        ("search, part of a name", {}, someone["family_name"][1:4]),
        ("search, study id", {}, someone["study_id"]),
        ("search, MRN", {}, someone["mrn"]),
    ]
    rows = []
    for label, data, query in cases:
        if query is None:
            client.post(list_url, {"clear": "1"})
        else:
            client.post(list_url, {"q": query})
        _timed(client, list_url, data)  # warm-up
        timings = [_timed(client, list_url, data) for _ in range(args.requests)]
        with CaptureQueriesContext(connection) as captured:
            _timed(client, list_url, data)
        selects = [q["sql"] for q in captured.captured_queries if q["sql"].lstrip().upper().startswith("SELECT")]
        sql_s = statistics.median(replay_seconds(selects) for _ in range(5))
        if args.explain:
            _explain(args.explain, label, [sql for sql in selects if 'FROM "patients_patient"' in sql])
        rows.append(
            {
                "measure": f"case {label}",
                "figure": f"p95 {p95(timings) * 1000:.0f} ms (median {statistics.median(timings) * 1000:.0f}), "
                f"{len(captured)} queries",
                "baseline": f"its {len(selects)} SELECTs replayed {sql_s * 1000:.0f} ms",
                "ratio": p95(timings) / sql_s,
                "p95_ms": round(p95(timings) * 1000, 1),
                "queries": len(captured),
            }
        )
    client.post(list_url, {"clear": "1"})
    return {"rows": rows}


def step_dispatch(args) -> dict:
    from benchmarks.bench_followup import dispatch_vs_raw

    if os.environ["CELERY_BROKER_URL"].startswith("memory"):
        raise SystemExit("dispatch needs a real broker: set CELERY_BROKER_URL=redis://...")
    from django.utils import timezone

    # Today, not TODAY: the worker sends on the real clock (windows are opened for the purpose).
    measured = dispatch_vs_raw(args.dispatch, timezone.localdate(), args.concurrency, "prefork")
    raw = measured["raw_rate"]
    baseline = (
        f"raw send_messages of the same emails {measured['raw_rates'][0]:.0f} / {measured['raw_rates'][1]:.0f} "
        "msg/s (before / after)"
    )
    return {
        "rows": [
            {
                "measure": f"dispatch {measured['n']} invitations in-process",
                "figure": f"{measured['in_process_rate']:.0f} msg/s ({measured['sent_in_process']} sent)",
                "baseline": baseline,
                "ratio": measured["in_process_rate"] / raw,
            },
            {
                "measure": f"dispatch {measured['n']} invitations, worker prefork × {args.concurrency}",
                "figure": f"{measured['worker_rate']:.0f} msg/s ({measured['sent_worker']} sent)",
                "baseline": baseline,
                "ratio": measured["worker_rate"] / raw,
            },
        ]
    }


def step_import(args) -> dict:
    env = {
        **os.environ,
        "BENCH_DATABASE_URL": os.environ.get(
            "BENCH_IMPORT_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/registry_bench_scale_import"
        ),
    }
    output = subprocess.run(  # noqa: S603 - our interpreter and script
        [sys.executable, str(ROOT / "benchmarks" / "bench_import.py"), "--levels", str(args.levels), "--format", "csv"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    return {"rows": [{"measure": f"import {args.levels} levels", "figure": line, "baseline": "", "ratio": None}
                     for line in output.strip().splitlines()]}  # fmt: skip


def child(step: str, args) -> dict:
    command = [sys.executable, __file__, "--child", step, *sys.argv[1:]]
    load_before = os.getloadavg()[0]
    completed = subprocess.run(command, capture_output=True, text=True, env=os.environ)  # noqa: S603
    if completed.returncode:
        return {"rows": [{"measure": step, "figure": "failed", "baseline": completed.stderr[-400:], "ratio": None}]}
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    result["load"] = (load_before, os.getloadavg()[0])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=STEPS, default=list(STEPS))
    parser.add_argument("--requests", type=int, default=20, help="timed requests per case page")
    parser.add_argument("--cold-requests", type=int, default=5, help="cold dashboard requests per filter")
    parser.add_argument(
        "--dashboard-filters",
        type=int,
        default=4,
        help="how many of the 4 filter combinations (cold loads are slow at 1M)",
    )
    parser.add_argument("--dispatch", type=int, default=2000, help="invitations to send (each way)")
    parser.add_argument("--concurrency", type=int, default=4, help="celery worker processes for dispatch")
    parser.add_argument("--levels", type=int, default=20000, help="levels for the import step")
    parser.add_argument(
        "--explain", help="case_pages: append EXPLAIN (ANALYZE, BUFFERS) of each case's list queries to this file"
    )
    parser.add_argument("--child", choices=STEPS, help=argparse.SUPPRESS)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    if min(args.requests, args.cold_requests, args.dispatch, args.levels) < 1:
        parser.error("counts must be positive")

    if args.child:
        if args.child != "import":
            from benchmarks.common import setup_django

            setup_django(migrate=False)
        result = globals()[f"step_{args.child}"](args)
        result["peak_mib"] = peak_mib()
        print(json.dumps(result))
        return

    from urllib.parse import urlparse

    import psycopg

    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        patients = conn.execute("SELECT count(*) FROM patients_patient").fetchone()[0]
        levels = conn.execute("SELECT count(*) FROM procedures_treatedlevel").fetchone()[0]
        responses = conn.execute("SELECT count(*) FROM followup_surveyresponse").fetchone()[0]
    print(
        f"\n{urlparse(os.environ['DATABASE_URL']).path.lstrip('/')}: {patients:,} patients, {levels:,} levels, "
        f"{responses:,} survey responses; {os.cpu_count()} CPUs; {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC\n"
    )
    print("| measure | figure | same-run baseline | ratio | peak MiB | load before → after |")
    print("| --- | --- | --- | ---: | ---: | --- |")
    results = {}
    for step in args.only:
        result = child(step, args)
        results[step] = result
        load = result.get("load", (0, 0))
        for row in result["rows"]:
            ratio = "" if row["ratio"] is None else f"{row['ratio']:.2f}×"
            print(
                f"| {row['measure']} | {row['figure']} | {row['baseline']} | {ratio} | "
                f"{result.get('peak_mib', '')} | {load[0]:.1f} → {load[1]:.1f} |",
                flush=True,
            )
    if args.json:
        Path(args.json).write_text(json.dumps({"patients": patients, "results": results}, indent=1))


if __name__ == "__main__":
    main()
