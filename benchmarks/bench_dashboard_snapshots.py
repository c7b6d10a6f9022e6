"""Dashboard snapshots at 100,000 patients: the beat refresh, and the pages it serves.

Uses the cohort that ``benchmarks/bench_reports.py`` loads into ``registry_bench_reports`` (run
that first). Measures one ``dashboard_snapshots_refresh`` (what beat runs every five minutes),
then the median of GET /reports/ for an administrator (whole registry) and one site's reviewer,
served from the snapshots, and a filtered page computed on demand for comparison.

    .venv/bin/python benchmarks/bench_dashboard_snapshots.py --requests 7
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
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/registry_bench_reports")
os.environ.setdefault("LOG_LEVEL", "WARNING")


def timed_get(client, url: str, n: int) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - start)
        assert response.status_code == 200, response.status_code
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=7)
    args = parser.parse_args()
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client

    from registry.accounts.models import Role, SiteMembership
    from registry.patients.models import Patient, Site
    from reports import services

    print(f"{Patient.objects.count():,} patients, {Site.objects.count()} sites")
    start = time.perf_counter()
    stored = services.dashboard_snapshots_refresh()
    refresh = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"snapshot refresh: {refresh:.1f} s for {stored} dashboards, peak RSS {peak:.0f} MB")

    users = get_user_model().objects
    admin, _ = users.get_or_create(username="bench-admin", defaults={"is_superuser": True, "is_staff": True})
    site = Site.objects.order_by("id").first()
    reviewer, _ = users.get_or_create(username="bench-reviewer")
    SiteMembership.objects.get_or_create(user=reviewer, site=site, defaults={"role": Role.REVIEWER})
    for label, user, url in (
        ("administrator, whole registry (snapshot)", admin, "/reports/"),
        (f"reviewer, site {site.code} (snapshot)", reviewer, "/reports/"),
        (f"reviewer, site {site.code}, PKP only (on demand, then cached)", reviewer, "/reports/?procedure_type=PKP"),
    ):
        client = Client(HTTP_HOST="localhost")
        client.force_login(user)
        if "on demand" in label:
            start = time.perf_counter()
            client.get(url)
            print(f"{label}: first {time.perf_counter() - start:.2f} s, ", end="")
            print(f"then median {timed_get(client, url, args.requests):.3f} s")
        else:
            print(f"{label}: median {timed_get(client, url, args.requests):.3f} s")


if __name__ == "__main__":
    main()
