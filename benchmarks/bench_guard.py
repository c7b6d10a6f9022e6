"""The disclosure guard's reference figures (issue #10): CPU of what one quarterly build of 2026 Q3
spends, over every site's report, on the releases the guard compares a cumulative section with
(``reports.disclosure``), this tree against a baseline ``reports`` package in the same run.

    git archive <commit> reports | tar -x -C /tmp/baseline      # the baseline's reports package
    .venv/bin/python benchmarks/bench_guard.py --baseline-code /tmp/baseline --pairs 3

Reads (never writes) the 20,000-patient database that ``bench_reports.py`` builds
(``BENCH_PATIENTS=20000``; DATABASE_URL, default ``registry_bench_reports_rpt``). Each variant runs
in a fresh process, baseline and this tree alternating in pairs: the process loads the registry's
frames as known on 30 September 2026 (untimed), then times with ``time.process_time`` the guard's
references of every site (from the site's cumulative frames to the list of reference figures; the
report's own quarter is computed by the build anyway and is left out of both). Printed per pair: both
CPU times and their ratio, the load average, the peak memory of the process (ru_maxrss) and the peak
the references' computation allocates (tracemalloc, an untimed second pass); then how the cost grows
with a registry's age: each site's procedures dealt out by id into 6 and into 40 releases (a site ten
years in has 40 quarters). With ``--check`` both variants print a digest of every site's guarded
cumulative figures (every value and withheld mark), which must match.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
YEAR, QUARTER = 2026, 3
AS_OF = dt.date(2026, 9, 30)
# Releases per site for the growth figures (``spread``).
SPREAD = (6, 40)


def child() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "registry.settings")
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/registry_bench_reports_rpt")
    os.environ.setdefault("CELERY_BROKER_URL", "memory://")
    import django
    import pandas as pd
    from django.conf import settings

    if os.environ.get("BENCH_REPORTS_CODE"):
        settings.INSTALLED_APPS  # noqa: B018 - loading the settings puts the project first on sys.path
        sys.path.insert(0, os.environ["BENCH_REPORTS_CODE"])
    django.setup()
    from reports import disclosure
    from reports.loaders import CohortFilter, load_frames
    from reports.metrics import compute_all
    from reports.services import quarter_bounds

    def references(cumulative, start):
        if hasattr(disclosure, "contained_counts"):
            return disclosure.contained_counts(cumulative, start=start)
        # The baseline: one counts-only metric set per release.
        return [compute_all(f, counts_only=True) for f in disclosure.contained_releases(cumulative, start=start)]

    def spread(cumulative, releases):
        """``releases`` releases of one site, its procedures dealt out by id: how the cost grows
        with the quarters a registry spans (40 for a site ten years in)."""
        release = cumulative.procedures["procedure_id"].to_numpy() % releases
        if hasattr(disclosure, "contained_counts"):
            from reports.release_counts import release_counts

            return release_counts(cumulative, release=release, releases=releases)
        return [compute_all(cumulative.restrict(pd.Series(release == r)), counts_only=True) for r in range(releases)]

    start, end = quarter_bounds(YEAR, QUARTER)
    frames = load_frames(CohortFilter(), as_of=AS_OF)
    site_ids = sorted(int(s) for s in frames.procedures["site_id"].unique())
    cumulatives = [frames.up_to(end).for_sites([site_id]) for site_id in site_ids]
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    began = time.process_time()
    for cumulative in cumulatives:
        references(cumulative, start)
    cpu = time.process_time() - began
    load = os.getloadavg()
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    spread_cpu = {}
    for releases in SPREAD:
        began = time.process_time()
        for cumulative in cumulatives:
            spread(cumulative, releases)
        spread_cpu[releases] = time.process_time() - began

    tracemalloc.start()
    releases = [references(cumulative, start) for cumulative in cumulatives]
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()

    digest = hashlib.sha256()
    if "--check" in sys.argv:
        for cumulative, contained in zip(cumulatives, releases, strict=True):
            quarter = compute_all(cumulative.performed_between(start, end))
            guarded = disclosure.guard_differences(compute_all(cumulative), contained=[quarter, *contained])
            digest.update(repr(_shown(guarded, disclosure.is_withheld)).encode())
    print(
        json.dumps(
            {
                "code": disclosure.__file__,
                "cpu": cpu,
                "spread_cpu": spread_cpu,
                "releases": sum(len(r) for r in releases),
                "load": load,
                "maxrss_mb": rss_after / 1024,
                "maxrss_growth_mb": (rss_after - rss_before) / 1024,
                "traced_peak_mb": traced_peak / 2**20,
                "digest": digest.hexdigest() if "--check" in sys.argv else None,
            }
        )
    )


def _shown(value, is_withheld):
    """Every figure with its type and withheld mark (a withheld count equals its plain int)."""
    if dataclasses.is_dataclass(value):
        return (
            type(value).__name__,
            {f.name: _shown(getattr(value, f.name), is_withheld) for f in dataclasses.fields(value)},
        )
    if isinstance(value, dict):
        return {key: _shown(item, is_withheld) for key, item in value.items()}
    return (type(value).__name__, is_withheld(value), repr(value))


def run(baseline: str | None, *, check: bool) -> dict:
    env = dict(os.environ)
    env.pop("BENCH_REPORTS_CODE", None)
    if baseline:
        env["BENCH_REPORTS_CODE"] = baseline
    command = [sys.executable, __file__, "--child", *(["--check"] if check else [])]
    output = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout  # noqa: S603
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline-code", required=True, help="folder holding the baseline's reports package")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--check", action="store_true", help="also compare the guarded figures of both")
    args = parser.parse_args()
    ratios = []
    for pair in range(args.pairs):
        base = run(args.baseline_code, check=args.check)
        this = run(None, check=args.check)
        if not base["code"].startswith(str(Path(args.baseline_code).resolve())) or this["code"] == base["code"]:
            sys.exit(f"the baseline ran {base['code']}, this tree {this['code']}: not a comparison")
        ratio = base["cpu"] / this["cpu"]
        ratios.append(ratio)
        print(
            f"pair {pair + 1}: baseline {base['cpu']:.3f} s ({base['releases']} releases, load {base['load'][0]:.2f}), "
            f"this tree {this['cpu']:.3f} s ({this['releases']} releases, load {this['load'][0]:.2f}): "
            f"{ratio:.1f}x less CPU; peak memory {base['maxrss_mb']:.0f} / {this['maxrss_mb']:.0f} MB "
            f"(growth in the timed pass {base['maxrss_growth_mb']:.0f} / {this['maxrss_growth_mb']:.0f} MB), "
            f"allocated at peak by the references {base['traced_peak_mb']:.1f} / {this['traced_peak_mb']:.1f} MB",
            flush=True,
        )
        growth = ", ".join(
            f"{n} releases a site: {base['spread_cpu'][str(n)]:.2f} / {this['spread_cpu'][str(n)]:.2f} s "
            f"({base['spread_cpu'][str(n)] / this['spread_cpu'][str(n)]:.1f}x)"
            for n in SPREAD
        )
        print(f"  growth, baseline / this tree, 10 sites: {growth}", flush=True)
        if args.check:
            same = base["digest"] == this["digest"]
            print(f"  guarded cumulative figures of every site identical: {same}", flush=True)
            if not same:
                sys.exit(1)
    print(f"median ratio {statistics.median(ratios):.1f}x; load average now {os.getloadavg()}")


if __name__ == "__main__":
    if "--child" in sys.argv:
        child()
    else:
        main()
