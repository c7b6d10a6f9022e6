"""Case capture pages on a 100,000-patient registry: the patient list and the patient page.

    .venv/bin/python benchmarks/bench_case_pages.py               # loads the cohort on first run
    .venv/bin/python benchmarks/bench_case_pages.py --requests 30

Database: PostgreSQL ``registry_bench`` (created and migrated if missing; override with
DATABASE_URL). The cohort is ``registry.demo.cohort.generate_cohort`` over three sites (TOL,
BOS, MAD), topped up to ``--patients`` (default 100,000). The measuring user is a coordinator of
all three sites, so the list pages over every patient: the largest list a coordinator can get.

Each page is requested through Django's test client (the whole stack: middleware, session,
access checks, template) ``--requests`` times after one warm-up request; the median and the
95th percentile wall time are reported, and the SQL query count of one request.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/registry_bench")
os.environ.setdefault("CELERY_BROKER_URL", "memory://")
os.environ.setdefault("ALLOWED_HOSTS", "localhost,testserver")
# DEBUG stays on (as in development) so that static files need no collectstatic manifest; its
# only cost here is Django keeping the last queries in memory.
os.environ.setdefault("DEBUG", "true")

SITE_CODES = ("TOL", "BOS", "MAD")
SEED = 100


from benchmarks.common import ensure_database  # noqa: E402


def load(patients: int) -> dict:
    from django.core.management import call_command
    from django.db import connection

    from registry.demo.cohort import generate_cohort
    from registry.patients.models import Patient, Site

    call_command("migrate", verbosity=0)
    sites = [
        Site.objects.get_or_create(
            code=code,
            defaults={"name": f"Spine unit {code}", "contact_email": f"registry-{code.lower()}@hospital.test"},
        )[0]
        for code in SITE_CODES
    ]
    have = Patient.objects.filter(site__in=sites).count()
    loaded = {}
    if have < patients:
        started = time.perf_counter()
        counts = generate_cohort(sites=sites, n_patients=patients - have, seed=SEED + have, batch_size=5000)
        loaded = {"seconds": round(time.perf_counter() - started, 1), **counts}
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return loaded


def coordinator():
    from django.contrib.auth import get_user_model

    from registry.accounts.models import Role, SiteMembership
    from registry.patients.models import Site

    user, _ = get_user_model().objects.get_or_create(username="bench-coordinator")
    for site in Site.objects.filter(code__in=SITE_CODES):
        SiteMembership.objects.get_or_create(user=user, site=site, defaults={"role": Role.COORDINATOR})
    return user


def measure(client, label: str, method: str, url: str, data=None, requests: int = 20) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    call = getattr(client, method)
    response = call(url, data or {})  # warm-up
    assert response.status_code == 200, (label, response.status_code)
    timings = []
    for _ in range(requests):
        started = time.perf_counter()
        response = call(url, data or {})
        timings.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as queries:
        call(url, data or {})
    timings.sort()
    return {
        "page": label,
        "median_ms": round(statistics.median(timings), 1),
        "p95_ms": round(timings[max(0, int(len(timings) * 0.95) - 1)], 1),
        "queries": len(queries),
        "bytes": len(response.content),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()

    ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.db.models import Count
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.urls import reverse

    from registry.patients.models import Patient

    setup_test_environment()
    loaded = load(args.patients)
    if loaded:
        print(f"Loaded: {loaded}")
    user = coordinator()
    client = Client()
    client.force_login(user)

    total = Patient.objects.count()
    busiest = (
        Patient.objects.annotate(n=Count("procedures__levels__leaks") + Count("procedures__levels"))
        .filter(procedures__complications__isnull=False)
        .order_by("-n")
        .values_list("pk", flat=True)
        .first()
    ) or Patient.objects.values_list("pk", flat=True).first()
    typical = Patient.objects.order_by("pk").values_list("pk", flat=True)[total // 2]
    someone = Patient.objects.get(pk=typical)

    list_url = reverse("patients:list")
    results = [
        measure(client, "list, page 1 of 25", "get", list_url, requests=args.requests),
        measure(client, "list, page 1 of 100", "get", list_url, {"per_page": 100}, requests=args.requests),
        measure(client, "list, page 2000 of 25", "get", list_url, {"page": 2000}, requests=args.requests),
        measure(
            client,
            "list, filter PKP + in follow-up",
            "get",
            list_url,
            {"procedure_type": "PKP", "followup_status": "active"},
            requests=args.requests,
        ),
    ]
    client.post(list_url, {"q": someone.family_name})
    results.append(measure(client, "list, name search (common surname)", "get", list_url, requests=args.requests))
    client.post(list_url, {"q": someone.study_id})
    results.append(measure(client, "list, study id search", "get", list_url, requests=args.requests))
    client.post(list_url, {"clear": "1"})
    results.append(
        measure(
            client, "patient page (typical)", "get", reverse("patients:detail", args=[typical]), requests=args.requests
        )
    )
    results.append(
        measure(
            client,
            "patient page (most levels and leaks)",
            "get",
            reverse("patients:detail", args=[busiest]),
            requests=args.requests,
        )
    )

    print(f"\n{total:,} patients; median of {args.requests} requests after one warm-up\n")
    print("| page | median ms | p95 ms | SQL queries | HTML bytes |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for r in results:
        print(f"| {r['page']} | {r['median_ms']} | {r['p95_ms']} | {r['queries']} | {r['bytes']:,} |")


if __name__ == "__main__":
    main()
