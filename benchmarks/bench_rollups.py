"""Rollups benchmark (issue #14): outcome figures from the sufficient statistics beside the full
path (rows -> pandas -> ``reports.metrics.outcomes``) and a plain SQL baseline, in the same run.

    .venv/bin/python benchmarks/bench_rollups.py                  # 20,000 patients (BENCH_PATIENTS)
    BENCH_PATIENTS=100000 .venv/bin/python benchmarks/bench_rollups.py --requests 7

Database: PostgreSQL ``registry_bench_rollups`` (created if missing; override with DATABASE_URL),
filled on the first run by ``benchmarks/bench_reports.py``'s cohort loader (same generator,
follow-up, responses and repeat answers). Each measurement runs in a fresh process, so that its
peak memory (``ru_maxrss``) is its own:

1. ``build``: every partition marked stale and refreshed (what the migration's first refresh does),
   beside the plain SQL baseline of the same sums (one GROUP BY over the latest answers, no as-of
   versions) and a ``COUNT(*)`` of the responses.
2. ``figures``: for every filter of the dashboard a user can choose (all sites / one site x all types /
   PKP x all indications / osteoporotic) and the quarterly report's cohorts (2026 Q3 as of its end:
   the quarter and the cumulative cohort, registry and one site), cold: ``outcomes_from_rollups``
   (p50 / p95), the full path, and the plain SQL baseline; every figure is checked equal to the
   full path's.
3. ``incremental``: 200 answers of one site-month edited, then the refresh of that one partition.

Each line prints the figure, the baseline, their ratio, the peak memory and ``os.getloadavg()``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("BENCH_PATIENTS", "20000")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/registry_bench_rollups")

from benchmarks import bench_reports  # noqa: E402
from benchmarks.common import ensure_database  # noqa: E402

AS_OF = bench_reports.TODAY  # 1 October 2026: a day inside a month, as the dashboard asks
QUARTER_END = dt.date(2026, 9, 30)
QUARTER_START = dt.date(2026, 7, 1)

# The same figures as reports.metrics.outcomes' "all" rows, straight from the tables: the latest
# answer per procedure and event known by the date, and its baseline beside it.
BASELINE_SQL = """
WITH latest AS (
    SELECT DISTINCT ON (r.procedure_id, r.event_code) r.procedure_id, r.event_code, r.vas, r.odi_percent
    FROM followup_surveyresponse r JOIN procedures_procedure p ON p.id = r.procedure_id
    WHERE r.collected_on <= %(as_of)s AND (r.submitted_at AT TIME ZONE %(zone)s)::date <= %(as_of)s
      AND (%(all_sites)s OR p.site_id = ANY(%(site_ids)s))
      AND (%(type)s = '' OR p.procedure_type = %(type)s) AND (%(indication)s = '' OR p.indication = %(indication)s)
      AND (%(from)s::date IS NULL OR p.performed_on >= %(from)s) AND (%(to)s::date IS NULL OR p.performed_on <= %(to)s)
    ORDER BY r.procedure_id, r.event_code, r.collected_on DESC, r.id DESC
)
SELECT f.event_code, p.procedure_type, count(f.vas), sum(f.vas), sum(f.vas * f.vas), min(f.vas), max(f.vas),
       count(f.vas - b.vas), sum(f.vas - b.vas), sum((f.vas - b.vas) ^ 2),
       count(f.odi_percent), sum(f.odi_percent), sum(f.odi_percent ^ 2)
FROM latest f JOIN procedures_procedure p ON p.id = f.procedure_id
LEFT JOIN latest b ON b.procedure_id = f.procedure_id AND b.event_code = 'baseline'
GROUP BY GROUPING SETS ((f.event_code), (f.event_code, p.procedure_type), (f.event_code, p.indication))
"""


def load() -> tuple[float, ...]:
    return tuple(round(x, 2) for x in os.getloadavg())


def cohorts(site_id: int) -> list[tuple[str, object, dt.date]]:
    from reports.loaders import CohortFilter

    sites = {"all sites": None, "one site": (site_id,)}
    result = []
    for site_label, site_ids in sites.items():
        for filter_label, extra in (
            ("", {}),
            (", PKP", {"procedure_type": "PKP"}),
            (", osteoporotic", {"indication": "osteoporotic"}),
        ):
            result.append((f"dashboard, {site_label}{filter_label}", CohortFilter(site_ids=site_ids, **extra), AS_OF))
        result.append(
            (
                f"quarter, {site_label}",
                CohortFilter(site_ids=site_ids, performed_from=QUARTER_START, performed_to=QUARTER_END),
                QUARTER_END,
            )
        )
        result.append(
            (f"cumulative, {site_label}", CohortFilter(site_ids=site_ids, performed_to=QUARTER_END), QUARTER_END)
        )
    return result  # fmt: skip


def baseline(cursor, cohort, as_of: dt.date) -> None:
    from django.conf import settings

    cursor.execute(
        BASELINE_SQL,
        {
            "as_of": as_of, "zone": settings.TIME_ZONE, "all_sites": cohort.site_ids is None,
            "site_ids": list(cohort.site_ids or []), "type": cohort.procedure_type, "indication": cohort.indication,
            "from": cohort.performed_from, "to": cohort.performed_to,
        },
    )  # fmt: skip
    cursor.fetchall()


def timed(function, *args, **kwargs) -> tuple[float, object]:
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - started, result


def measure_build() -> dict:
    from django.db import connection

    from registry.rollups.services import rollups_refresh

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE rollups_outcomerollup, rollups_procedurerollup")
        cursor.execute(
            "INSERT INTO rollups_stalepartition (site_id, performed_month, marked_at) "
            "SELECT DISTINCT site_id, date_trunc('month', performed_on)::date, now() FROM procedures_procedure "
            "ON CONFLICT (site_id, performed_month) DO NOTHING"
        )
        seconds, partitions = timed(rollups_refresh)
        sql_seconds, _ = timed(baseline, cursor, _all(), AS_OF)
        count_seconds, _ = timed(cursor.execute, "SELECT count(*) FROM followup_surveyresponse")
        cursor.execute("SELECT count(*) FROM rollups_outcomerollup")
        rows = cursor.fetchone()[0]
    return {
        "partitions": partitions, "rollup_rows": rows, "refresh_s": round(seconds, 3),
        "sql_baseline_s": round(sql_seconds, 3), "count_s": round(count_seconds, 3),
        "ratio_to_sql": round(seconds / sql_seconds, 2), "peak_rss_mb": peak(), "load": load(),
    }  # fmt: skip


def _all():
    from reports.loaders import CohortFilter

    return CohortFilter()


def peak() -> float:
    return round(bench_reports.peak_rss_mb(), 1)


def measure_figures(requests: int) -> dict:
    from django.db import connection

    from registry.patients.models import Site
    from registry.rollups.selectors import outcomes_from_rollups
    from registry.rollups.services import rollups_refresh
    from reports.loaders import load_frames
    from reports.metrics import outcomes

    rollups_refresh()
    site_id = Site.objects.order_by("code").values_list("id", flat=True).first()
    rows, rollup_times, full_times, sql_times = {}, [], [], []
    for label, cohort, as_of in cohorts(site_id):
        rollup = [timed(outcomes_from_rollups, cohort, as_of=as_of) for _ in range(requests)]
        full_seconds, full = timed(lambda c=cohort, d=as_of: outcomes(load_frames(c, as_of=d)))
        with connection.cursor() as cursor:
            sql = [timed(baseline, cursor, cohort, as_of)[0] for _ in range(requests)]
        figures = rollup[0][1]
        equal = figures == full if figures is not None else "not covered"
        seconds = [s for s, _ in rollup]
        rows[label] = {
            "rollups_p50_s": round(statistics.median(seconds), 4), "full_s": round(full_seconds, 3),
            "sql_p50_s": round(statistics.median(sql), 4), "rollups_over_sql": round(statistics.median(seconds) / statistics.median(sql), 3),
            "full_over_rollups": round(full_seconds / statistics.median(seconds), 1), "equal_to_full": equal,
        }  # fmt: skip
        rollup_times += seconds
        full_times.append(full_seconds)
        sql_times += sql
    p95 = statistics.quantiles(rollup_times, n=20)[-1]
    return {
        "cohorts": rows, "rollups_p95_s": round(p95, 4), "sql_p95_s": round(statistics.quantiles(sql_times, n=20)[-1], 4),
        "full_median_s": round(statistics.median(full_times), 3), "peak_rss_mb": peak(), "load": load(),
    }  # fmt: skip


def measure_incremental() -> dict:
    from django.db import connection

    from registry.rollups.models import StalePartition
    from registry.rollups.services import rollups_refresh

    rollups_refresh()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE followup_surveyresponse SET vas = 10 - vas WHERE id IN ("
            " SELECT r.id FROM followup_surveyresponse r JOIN procedures_procedure p ON p.id = r.procedure_id"
            " WHERE p.performed_on >= DATE '2026-03-01' AND p.performed_on < DATE '2026-04-01'"
            " AND r.vas IS NOT NULL AND p.site_id = (SELECT min(id) FROM patients_site) ORDER BY r.id LIMIT 200)"
        )
    stale = StalePartition.objects.count()
    seconds, partitions = timed(rollups_refresh)
    return {
        "stale": stale,
        "partitions": partitions,
        "refresh_s": round(seconds, 3),
        "peak_rss_mb": peak(),
        "load": load(),
    }


def child(kind: str, requests: int) -> dict:
    command = [sys.executable, __file__, "--child", kind, "--requests", str(requests)]
    output = subprocess.run(command, check=True, capture_output=True, text=True, env=os.environ).stdout  # noqa: S603
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=5, help="cold reads per cohort")
    parser.add_argument("--child", choices=("build", "figures", "incremental"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        bench_reports.setup_django()
        measure = {
            "build": measure_build,
            "figures": lambda: measure_figures(args.requests),
            "incremental": measure_incremental,
        }
        print(json.dumps(measure[args.child](), default=str))
        return
    ensure_database(os.environ["DATABASE_URL"])
    bench_reports.setup_django(migrate=True)
    bench_reports.build_cohort(rebuild=False)
    print(f"data: {bench_reports.counts()}, load {load()}", flush=True)
    for kind in ("build", "figures", "incremental"):
        print(kind, json.dumps(child(kind, args.requests), indent=1, default=str), flush=True)


if __name__ == "__main__":
    main()
