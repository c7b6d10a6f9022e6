"""Reports benchmark: the quarterly build and the dashboard on a 100,000-patient registry.

    .venv/bin/python benchmarks/bench_reports.py            # builds the cohort on first run
    .venv/bin/python benchmarks/bench_reports.py --rebuild  # start from an empty database
    git archive 02653ca reports | tar -x -C /tmp/baseline   # a baseline's reports package, then:
    .venv/bin/python benchmarks/bench_reports.py --baseline-code /tmp/baseline --pairs 3

Database: PostgreSQL ``registry_bench_reports`` (created if missing; override with
DATABASE_URL). The cohort is ``registry.demo.cohort.generate_cohort`` (100,000 patients over
10 sites, sessions over the 18 months before 1 October 2026: ~108,000 procedures, ~235,000
treated levels, leaks and complications), plus, written here with set-based SQL (seeded):

- four follow-up events per procedure (baseline, early, m3, m12 of the default protocol) in
  the state the sweeps leave them on 1 October 2026: closed windows completed (78 %) or
  missed, dead or withdrawn patients' open events cancelled, later ones invited / scheduled;
- one survey response per completed event (VAS and ODI falling from baseline), and repeat
  answers (phone re-contacts, no event) until the responses reach ~600,000;
- DXA and osteoporosis-therapy actions for osteoporotic procedures.

Measured, each in a fresh process so that the peak memory (ru_maxrss) is the task's own:
1. ``quarterly``: ``reports.services.quarterly_reports_build`` for 2026 Q3, i.e. what beat runs
   on 1 October: the report of every site and of the whole registry (quarter + cumulative
   cohort, HTML with charts, PDF, XLSX), stored. Repeated ``--runs`` times (reports emptied
   with TRUNCATE between runs: the rows themselves refuse DELETE).
2. ``dashboard``: GET /reports/ through Django's test client, as the administrator (all sites,
   all time: the largest page) and as one site's reviewer: "cold" with the dashboard cache
   emptied before each of 3 requests (computed from the database), "warm" the median of
   ``--requests`` requests served within the cache's five minutes.
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
# A same-run baseline: BENCH_REPORTS_CODE names a folder holding another version of the ``reports``
# package (e.g. ``git archive <commit> reports | tar -x -C /tmp/baseline``), imported instead of
# this tree's; everything else (models, data) is shared.
if os.environ.get("BENCH_REPORTS_CODE"):
    sys.path.insert(0, os.environ["BENCH_REPORTS_CODE"])
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/registry_bench_reports")
# Notices are queued after each report commits; nothing consumes them here.
os.environ.setdefault("CELERY_BROKER_URL", "memory://")
os.environ.setdefault("ALLOWED_HOSTS", "localhost,testserver")

TODAY = dt.date(2026, 10, 1)
SITES = 10
# BENCH_PATIENTS makes a smaller registry (same shape: six responses per patient) where time is short.
PATIENTS = int(os.environ.get("BENCH_PATIENTS", "100000"))
TARGET_RESPONSES = 6 * PATIENTS
SEED = 2026


from benchmarks.common import ensure_database  # noqa: E402


def setup_django(migrate: bool = False) -> None:
    import django
    from django.conf import settings

    if os.environ.get("BENCH_REPORTS_CODE"):
        settings.INSTALLED_APPS  # noqa: B018 - loading the settings puts the project first on sys.path
        sys.path.insert(0, os.environ["BENCH_REPORTS_CODE"])
    django.setup()
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)


def counts() -> dict[str, int]:
    from django.db import connection

    tables = {
        "patients": "patients_patient",
        "procedures": "procedures_procedure",
        "treated_levels": "procedures_treatedlevel",
        "leaks": "procedures_cementleak",
        "complications": "procedures_complication",
        "followup_events": "followup_followupevent",
        "survey_responses": "followup_surveyresponse",
        "bone_health_actions": "patients_bonehealthaction",
    }
    with connection.cursor() as cursor:
        result = {}
        for label, table in tables.items():
            cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - fixed table names
            result[label] = cursor.fetchone()[0]
    return result


FOLLOWUP_SQL = """
SELECT setseed(0.2026);
INSERT INTO followup_followupevent
    (procedure_id, patient_id, site_id, protocol_event_id, event_code, window_opens_on, invite_on,
     window_closes_on, status, status_changed_at, cancel_cause, cancel_reason, created_at, updated_at)
SELECT p.id, p.patient_id, p.site_id, e.id, e.code,
       p.performed_on + e.window_start_day,
       CASE WHEN e.invite_day IS NULL THEN NULL ELSE p.performed_on + e.invite_day END,
       p.performed_on + e.window_end_day,
       s.status,
       -- When the status was set: a closed window the day after it closed (what the sweep does).
       LEAST(p.performed_on + e.window_end_day + 1, %(today)s) + time '12:00',
       -- Why a cancelled event was cancelled, in the same INSERT (no UPDATE of every event after).
       CASE WHEN s.status <> 'cancelled' THEN '' WHEN pt.deceased_on IS NOT NULL THEN 'deceased' ELSE 'withdrawn' END,
       CASE WHEN s.status <> 'cancelled' THEN ''
            WHEN pt.deceased_on IS NOT NULL THEN 'Patient deceased.' ELSE 'Patient withdrew consent.' END,
       now(), now()
FROM procedures_procedure p
JOIN patients_patient pt ON pt.id = p.patient_id
JOIN followup_protocolevent e ON e.protocol_id = (SELECT id FROM followup_followupprotocol WHERE is_default)
-- One draw per event (a subquery with random() is not inlined), read by the status and its cause.
CROSS JOIN LATERAL (SELECT CASE
         WHEN e.code = 'baseline' THEN CASE WHEN random() < 0.95 THEN 'completed' ELSE 'missed' END
         WHEN p.performed_on + e.window_end_day < %(today)s
           THEN CASE WHEN pt.deceased_on IS NOT NULL AND pt.deceased_on <= p.performed_on + e.window_end_day
                     THEN 'cancelled'
                     WHEN random() < 0.78 THEN 'completed' ELSE 'missed' END
         WHEN pt.consent_status = 'withdrawn' OR pt.deceased_on IS NOT NULL THEN 'cancelled'
         WHEN p.performed_on + e.invite_day <= %(today)s THEN 'invited'
         ELSE 'scheduled'
       END AS status) s;
"""

RESPONSE_COLUMNS = """
    (patient_id, procedure_id, event_id, event_code, source, collected_on, language, vas, odi_answers,
     odi_percent, odi_answered, odi_complete, odi_total_only, karnofsky, red_flag_answers, red_flags, new_fracture,
     osteoporosis_therapy_taken, analgesic_use, followup_answers, entered_by_id, submitted_at,
     created_at, updated_at)
"""
# VAS and ODI fall from baseline after the procedure (004 Table 2); values clipped to range.
# ODI is 2 x the sum of ten 0-5 answers, so an even whole percent. Then, in every INSERT: answers
# were submitted on the day they were collected (reports count them as of then), written with the
# row (an UPDATE of millions of responses after the INSERT was most of the 1M load).
SCORE_SQL = """
    round(least(10, greatest(0, CASE ev.event_code WHEN 'baseline' THEN 7.3 WHEN 'early' THEN 3.2
        WHEN 'm3' THEN 2.8 ELSE 3.0 END + 1.6 * (random() + random() + random() - 1.5)))::numeric, 1),
    '{}'::jsonb,
    2 * round(least(50, greatest(0, CASE ev.event_code WHEN 'baseline' THEN 35 WHEN 'early' THEN 17.5
        WHEN 'm3' THEN 16 ELSE 15 END + 9 * (random() + random() + random() - 1.5)))::numeric),
    10, true, false, NULL, '{}'::jsonb, '[]'::jsonb, NULL,
    CASE WHEN ev.event_code IN ('m3', 'm12') THEN random() < 0.6 ELSE NULL END,
    '', '{}'::jsonb, NULL, c.collected_on + time '12:00', now(), now()
"""


def _with_fragments(template: str) -> str:
    # The column list and score expressions are constants of this file, not input.
    return template.replace("{RESPONSE_COLUMNS}", RESPONSE_COLUMNS).replace("{SCORE_SQL}", SCORE_SQL)


RESPONSES_SQL = _with_fragments("""
SELECT setseed(0.4242);
INSERT INTO followup_surveyresponse {RESPONSE_COLUMNS}
SELECT ev.patient_id, ev.procedure_id, ev.id, ev.event_code,
       CASE WHEN random() < 0.6 THEN 'link' ELSE 'phone' END,
       c.collected_on, 'en', {SCORE_SQL}
FROM followup_followupevent ev
CROSS JOIN LATERAL (SELECT LEAST(ev.window_closes_on,
    GREATEST(ev.window_opens_on, COALESCE(ev.invite_on, ev.window_closes_on) + 3)) AS collected_on) c
WHERE ev.status = 'completed';
""")
# Repeat answers (phone re-contacts after a link answer; no event of their own) up to the
# response volume of the issue: ``%(extra)s`` rows, at most two per completed event.
REPEATS_SQL = _with_fragments("""
SELECT setseed(0.4343);
INSERT INTO followup_surveyresponse {RESPONSE_COLUMNS}
SELECT ev.patient_id, ev.procedure_id, NULL, ev.event_code, 'phone',
       c.collected_on, 'en', {SCORE_SQL}
-- The repeats are chosen first (ids only): sorting the scored rows sorted millions of wide rows.
FROM (SELECT ev.id FROM followup_followupevent ev CROSS JOIN generate_series(1, 2) AS repeat
      WHERE ev.status = 'completed' ORDER BY md5(ev.id::text || repeat::text) LIMIT %(extra)s) chosen
JOIN followup_followupevent ev ON ev.id = chosen.id
CROSS JOIN LATERAL (SELECT LEAST(ev.window_closes_on,
    GREATEST(ev.window_opens_on, COALESCE(ev.invite_on, ev.window_closes_on) + 10)) AS collected_on) c;
""")
BONE_SQL = """
SELECT setseed(0.77);
INSERT INTO patients_bonehealthaction
    (patient_id, procedure_id, kind, status, due_on, done_on, t_score, therapy, note, acted_by_id,
     last_reminded_at, reminders_sent, created_at, updated_at)
SELECT a.patient_id, a.procedure_id, a.kind, a.status, a.due_on,
       -- Done within 20 days of due, never after today.
       CASE WHEN a.status = 'done' THEN LEAST(a.due_on + (random() * 40 - 20)::int, %(today)s) END,
       NULL, '', '', NULL, NULL, 0, now(), now()
FROM (SELECT p.patient_id, p.id AS procedure_id, k.kind, p.performed_on + k.days AS due_on,
             CASE WHEN random() < 0.65 THEN 'done' WHEN random() < 0.3 THEN 'declined' ELSE 'due' END AS status
      FROM procedures_procedure p
      CROSS JOIN (VALUES ('dxa', 60), ('osteoporosis_therapy', 90)) AS k(kind, days)
      WHERE p.indication = 'osteoporotic'
      -- A status drawn once per action (OFFSET 0 keeps the subquery from being inlined). An
      -- uncorrelated LATERAL drew once for all, so every action was 'done'.
      OFFSET 0) a;
"""


def run_statements(cursor, script: str, params: dict) -> None:
    # One statement per execute: bound parameters need the extended protocol.
    for statement in filter(None, (part.strip() for part in script.split(";"))):
        cursor.execute(statement, {k: v for k, v in params.items() if f"%({k})s" in statement})


def build_cohort(rebuild: bool) -> None:
    from django.db import connection, transaction

    from registry.demo.cohort import generate_cohort
    from registry.patients.models import Site

    if rebuild:
        with connection.cursor() as cursor:
            cursor.execute(
                "TRUNCATE reports_quarterlyreport, followup_surveyresponse, followup_followupevent, "
                "patients_bonehealthaction, procedures_cementleak, procedures_complication, "
                "procedures_treatedlevel, procedures_procedure, patients_consentevent, patients_patient CASCADE"
            )
    loaded = counts()
    if loaded["patients"] >= PATIENTS and loaded["followup_events"]:
        top_up_responses()
        return
    if loaded["patients"]:
        # An earlier load stopped before its follow-up: start again rather than time half a registry.
        return build_cohort(rebuild=True)
    started = time.perf_counter()
    sites = [
        Site.objects.get_or_create(
            code=f"B{chr(65 + i)}", defaults={"name": f"Bench site {i + 1}", "contact_email": f"site{i}@bench.test"}
        )[0]
        for i in range(SITES)
    ]
    print(f"generating {PATIENTS} patients over {SITES} sites...", flush=True)
    generate_cohort(sites=sites, n_patients=PATIENTS, seed=SEED, today=TODAY, batch_size=5000)
    print(f"  cohort in {time.perf_counter() - started:.0f} s", flush=True)
    with transaction.atomic(), connection.cursor() as cursor:
        run_statements(cursor, FOLLOWUP_SQL, {"today": TODAY})
        run_statements(cursor, RESPONSES_SQL, {})
        run_statements(cursor, BONE_SQL, {"today": TODAY})
    top_up_responses()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    print(f"  with follow-up in {time.perf_counter() - started:.0f} s: {counts()}", flush=True)


def top_up_responses() -> None:
    from django.db import connection, transaction

    missing = TARGET_RESPONSES - counts()["survey_responses"]
    if missing > 0:
        with transaction.atomic(), connection.cursor() as cursor:
            run_statements(cursor, REPEATS_SQL, {"extra": missing})
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE followup_surveyresponse")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure_quarterly() -> dict:
    from django.conf import settings
    from django.db import connection

    from reports import services

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE reports_quarterlyreport")
    year, quarter = services.previous_quarter(TODAY)
    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    reports = services.quarterly_reports_build(year=year, quarter=quarter, today=TODAY)
    seconds = time.perf_counter() - started
    sizes = [(len(r.html), len(r.pdf), len(r.xlsx)) for r in reports]
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "quarter": f"{year} Q{quarter}",
        "reports": len(reports),
        "seconds": round(seconds, 2),
        # CPU of the build and of the processes it forked (settings.REPORT_BUILD_PROCESSES): what
        # the build costs whatever the number of cores; a baseline forks nothing.
        "cpu_s": round(_cpu_seconds() - cpu_before, 2),
        "processes": getattr(settings, "REPORT_BUILD_PROCESSES", 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "largest_child_rss_mb": round(children.ru_maxrss / 1024, 1),
        "largest_pdf_kb": round(max(s[1] for s in sizes) / 1024, 1),
        "largest_xlsx_kb": round(max(s[2] for s in sizes) / 1024, 1),
    }


def _timed_get(client) -> float:
    started = time.perf_counter()
    response = client.get("/reports/")
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.status_code
    return elapsed


def measure_dashboard(requests: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.test import Client

    from registry.accounts.models import Role, SiteMembership
    from registry.patients.models import Site

    users = get_user_model().objects
    admin, _ = users.get_or_create(username="bench-admin", defaults={"is_superuser": True, "is_staff": True})
    reviewer, _ = users.get_or_create(username="bench-reviewer")
    site = Site.objects.order_by("code").first()
    SiteMembership.objects.get_or_create(user=reviewer, site=site, defaults={"role": Role.REVIEWER})
    result = {}
    for label, user in (("administrator, all sites", admin), (f"reviewer, site {site.code}", reviewer)):
        client = Client(HTTP_HOST="localhost")
        client.force_login(user)
        cold, warm = [], []
        for _ in range(3):
            cache.clear()  # computed from the database (the dashboard caches its content)
            cold.append(_timed_get(client))
        for _ in range(requests):
            warm.append(_timed_get(client))
        result[label] = {
            "cold_median_s": round(statistics.median(cold), 3),
            "cold_max_s": round(max(cold), 3),
            "warm_median_s": round(statistics.median(warm), 3),
        }
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    return result


def child(kind: str, argument: int, *, code: str | None = None) -> dict:
    """``kind`` measured in a fresh process; ``code``: a folder holding another ``reports`` package."""
    command = [sys.executable, __file__, "--child", kind, "--requests", str(argument)]
    env = {key: value for key, value in os.environ.items() if key != "BENCH_REPORTS_CODE"}
    if code:
        env["BENCH_REPORTS_CODE"] = code
    output = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout  # noqa: S603
    return json.loads(output.strip().splitlines()[-1])


def load_average() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def compare_quarterly(baseline_code: str, pairs: int) -> None:
    """The quarterly build of the ``reports`` package in ``baseline_code`` and of this tree's,
    alternately on the same database, each pair with the machine's load and this tree's time as a
    ratio of the baseline's; then the medians."""
    ratios, cpu_ratios, times = [], [], {"baseline": [], "this tree": []}
    for pair in range(1, pairs + 1):
        load = load_average()
        baseline = child("quarterly", 0, code=baseline_code)
        current = child("quarterly", 0)
        times["baseline"].append(baseline["seconds"])
        times["this tree"].append(current["seconds"])
        ratios.append(current["seconds"] / baseline["seconds"])
        cpu_ratios.append(current["cpu_s"] / baseline["cpu_s"])
        print(
            f"pair {pair} (load {load} -> {load_average()}): baseline {baseline['seconds']:.1f} s, "
            f"CPU {baseline['cpu_s']:.1f} s ({baseline['peak_rss_mb']:.0f} MB, PDF {baseline['largest_pdf_kb']:.0f} KB), "
            f"this tree {current['seconds']:.1f} s, CPU {current['cpu_s']:.1f} s in {current['processes']} "
            f"processes ({current['peak_rss_mb']:.0f} MB + children of at most "
            f"{current['largest_child_rss_mb']:.0f} MB, PDF {current['largest_pdf_kb']:.0f} KB): "
            f"ratio {ratios[-1]:.2f} (CPU {cpu_ratios[-1]:.2f})",
            flush=True,
        )
    print(
        f"median: baseline {statistics.median(times['baseline']):.1f} s, this tree "
        f"{statistics.median(times['this tree']):.1f} s, ratio {statistics.median(ratios):.2f} "
        f"(CPU {statistics.median(cpu_ratios):.2f})",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rebuild", action="store_true", help="empty the database and generate the cohort again")
    parser.add_argument("--runs", type=int, default=3, help="quarterly builds to time")
    parser.add_argument("--requests", type=int, default=7, help="dashboard requests per user")
    parser.add_argument("--child", choices=("quarterly", "dashboard"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--baseline-code",
        help="a folder holding the baseline's reports package (git archive <commit> reports | tar -x -C DIR): "
        "time the quarterly build of both, alternately",
    )
    parser.add_argument("--pairs", type=int, default=3, help="baseline / this tree pairs with --baseline-code")
    args = parser.parse_args()

    if args.child:
        setup_django()
        result = measure_quarterly() if args.child == "quarterly" else measure_dashboard(args.requests)
        print(json.dumps(result))
        return

    ensure_database(os.environ["DATABASE_URL"])
    setup_django(migrate=True)
    build_cohort(args.rebuild)
    print(json.dumps(counts()))
    if args.baseline_code:
        compare_quarterly(args.baseline_code, args.pairs)
        return
    for run in range(args.runs):
        print("quarterly", run + 1, json.dumps(child("quarterly", 0)), flush=True)
    print("dashboard", json.dumps(child("dashboard", args.requests)), flush=True)


if __name__ == "__main__":
    main()
