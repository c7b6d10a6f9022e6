"""Rendering benchmark: the CPU of ``render_pdf`` and ``render_xlsx`` for the 11 reports of one build.

    # once: the 11 documents of the 2026 Q3 build, read from the database (read-only) and pickled
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/registry_bench_reports_rpt \\
        .venv/bin/python benchmarks/bench_render.py --prepare
    # a baseline's reports package, then alternating pairs of fresh processes
    git archive <commit> reports | tar -x -C /tmp/render_baseline
    .venv/bin/python benchmarks/bench_render.py --baseline-code /tmp/render_baseline --pairs 3

``--prepare`` builds the documents as ``reports.services.quarterly_reports_build`` does (the frames
as of the quarter's end, ``quarterly_inputs`` and ``quarterly_document`` for every active site and
the registry) in a read-only database session, with the rollups taken as they are (the database's
rollups are rebuilt; a refresh would write), and stores nothing but the pickle. Each measurement
then unpickles the documents in a fresh process (so that its peak memory is its own), renders
one once untimed (fonts, imports), then renders every document ``--repeat`` times and adds up
each document's least PDF and XLSX CPU (``time.process_time``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pickle
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# BENCH_REPORTS_CODE names a folder holding another version of the ``reports`` package, imported
# instead of this tree's (a same-run baseline).
if os.environ.get("BENCH_REPORTS_CODE"):
    sys.path.insert(0, os.environ["BENCH_REPORTS_CODE"])
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/registry_bench_reports_rpt")
os.environ.setdefault("CELERY_BROKER_URL", "memory://")

TODAY = dt.date(2026, 10, 1)
DOCUMENTS = Path(
    os.environ.get("BENCH_RENDER_DOCUMENTS", Path(tempfile.gettempdir()) / "bench_render_documents.pickle")
)


def setup_django() -> None:
    import django
    from django.conf import settings

    if os.environ.get("BENCH_REPORTS_CODE"):
        settings.INSTALLED_APPS  # noqa: B018 - loading the settings puts the project first on sys.path
        sys.path.insert(0, os.environ["BENCH_REPORTS_CODE"])
    django.setup()


def prepare() -> None:
    from django.db import connection
    from django.utils import timezone

    from registry.patients.models import Site
    from reports import services
    from reports.loaders import CohortFilter, load_frames

    with connection.cursor() as cursor:
        cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
    year, quarter = services.previous_quarter(TODAY)
    _, end = services.quarter_bounds(year, quarter)
    frames = load_frames(CohortFilter(performed_to=end), as_of=end)
    built_at = timezone.now()
    targets = [*Site.objects.filter(active=True).order_by("code"), None]
    with mock.patch("registry.rollups.selectors.rollups_refresh", lambda **_: 0):
        inputs = [
            services.quarterly_inputs(frames, site=site, year=year, quarter=quarter, version=1, built_at=built_at)
            for site in targets
        ]
    documents = [services.quarterly_document(frames, item) for item in inputs]
    DOCUMENTS.write_bytes(pickle.dumps(documents))
    print(f"{len(documents)} documents of {year} Q{quarter} in {DOCUMENTS}")


def measure(repeat: int) -> dict:
    from reports.render import render_pdf, render_xlsx

    documents = pickle.loads(DOCUMENTS.read_bytes())  # noqa: S301 - our own file
    render_pdf(documents[0])
    render_xlsx(documents[0])
    # Each document's least CPU over ``repeat`` renderings: other processes on the machine only
    # ever add time (caches, the other hyperthread), so the minimum is the steadiest figure.
    pdf = [float("inf")] * len(documents)
    xlsx = [float("inf")] * len(documents)
    sizes = []
    for _ in range(repeat):
        for index, document in enumerate(documents):
            started = time.process_time()
            pdf_bytes = render_pdf(document)
            middle = time.process_time()
            xlsx_bytes = render_xlsx(document)
            pdf[index] = min(pdf[index], middle - started)
            xlsx[index] = min(xlsx[index], time.process_time() - middle)
            sizes.append((len(pdf_bytes), len(xlsx_bytes)))
    return {
        "documents": len(documents),
        "pdf_s": round(sum(pdf), 3),
        "xlsx_s": round(sum(xlsx), 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "largest_pdf_kb": round(max(s[0] for s in sizes) / 1024, 1),
        "largest_xlsx_kb": round(max(s[1] for s in sizes) / 1024, 1),
    }


def child(code: str | None, repeat: int) -> dict:
    env = {key: value for key, value in os.environ.items() if key != "BENCH_REPORTS_CODE"}
    if code:
        env["BENCH_REPORTS_CODE"] = code
    output = subprocess.run(  # noqa: S603
        [sys.executable, __file__, "--child", "--repeat", str(repeat)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def _line(label: str, result: dict) -> str:
    return (
        f"{label} PDF {result['pdf_s']:.2f} s + XLSX {result['xlsx_s']:.2f} s = "
        f"{result['pdf_s'] + result['xlsx_s']:.2f} s CPU ({result['peak_rss_mb']:.0f} MB peak, largest PDF "
        f"{result['largest_pdf_kb']:.0f} KB, XLSX {result['largest_xlsx_kb']:.0f} KB)"
    )


def compare(baseline_code: str, pairs: int, repeat: int) -> None:
    ratios = {"pdf": [], "xlsx": [], "both": []}
    for pair in range(1, pairs + 1):
        load = load_average()
        baseline = child(baseline_code, repeat)
        current = child(None, repeat)
        ratios["pdf"].append(current["pdf_s"] / baseline["pdf_s"])
        ratios["xlsx"].append(current["xlsx_s"] / baseline["xlsx_s"])
        ratios["both"].append((current["pdf_s"] + current["xlsx_s"]) / (baseline["pdf_s"] + baseline["xlsx_s"]))
        print(
            f"pair {pair} (load {load} -> {load_average()}): {_line('baseline', baseline)}; "
            f"{_line('this tree', current)}; ratio PDF {ratios['pdf'][-1]:.2f}, XLSX {ratios['xlsx'][-1]:.2f}, "
            f"both {ratios['both'][-1]:.2f}",
            flush=True,
        )
    print(
        "median ratio: " + ", ".join(f"{key} {statistics.median(values):.2f}" for key, values in ratios.items()),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prepare", action="store_true", help="build and pickle the 11 documents (read-only)")
    parser.add_argument("--baseline-code", help="a folder holding the baseline's reports package")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3, help="renderings of each document; its least CPU counts")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    setup_django()
    if args.prepare:
        prepare()
    elif args.child:
        print(json.dumps(measure(args.repeat)))
    elif args.baseline_code:
        compare(args.baseline_code, args.pairs, args.repeat)
    else:
        print(load_average(), _line("this tree", child(None, args.repeat)), load_average())


if __name__ == "__main__":
    main()
