"""Kaplan–Meier and log-rank (reports/survival.py) on a synthetic cohort, beside a same-run baseline.

Pure functions, no database: N patients followed up to two years, about 8 % with a new fracture,
split by intradiscal leak and by procedure type as on the dashboard. The baseline is sorting the
same durations (what any survival estimate must at least do), timed in the same run.

    .venv/bin/python benchmarks/bench_survival.py --patients 100000
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def median_seconds(call, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from reports.survival import kaplan_meier, logrank

    rng = random.Random(15)
    rows = []
    for _ in range(args.patients):
        observed = rng.randint(0, 730)
        event = rng.random() < 0.08
        rows.append((rng.randint(1, observed) if event and observed else observed, event and observed > 0,
                     rng.random() < 0.1, rng.choice("VVVKO")))  # fmt: skip
    durations = [r[0] for r in rows]
    events = [r[1] for r in rows]

    def by(key):
        groups: dict[str, tuple[list, list]] = {}
        for duration, event, leak, kind in rows:
            d, e = groups.setdefault(str(leak if key == "leak" else kind), ([], []))
            d.append(duration)
            e.append(event)
        return groups

    baseline = median_seconds(lambda: sorted(durations), args.repeat)
    km = median_seconds(lambda: kaplan_meier(durations, events), args.repeat)
    leak = median_seconds(lambda: logrank(by("leak")), args.repeat)
    kinds = median_seconds(lambda: logrank(by("kind")), args.repeat)
    print(f"patients: {args.patients:,}")
    print(f"baseline, sort durations:       {baseline * 1000:8.1f} ms")
    print(f"Kaplan–Meier, all patients:      {km * 1000:8.1f} ms")
    print(f"log-rank, leak vs none (2 groups): {leak * 1000:6.1f} ms")
    print(f"log-rank, by type (3 groups):    {kinds * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
