"""The disclosure guard compares a cumulative section with the counts of the releases it contains
(``reports.disclosure.contained_counts``, issue #10): it must withhold exactly what it withheld
when it compared with the full figures of each release computed on its own."""

from __future__ import annotations

import datetime as dt

import pytest

from reports import services
from reports.disclosure import contained_counts, guard_differences
from reports.loaders import CohortFilter, load_frames
from reports.metrics import compute_all
from tests.reports.cohort import build_cohort
from tests.reports.guarded import shown, withheld_count


@pytest.fixture
def cohort(site_a, site_b):
    return build_cohort(site_a, site_b)


def releases_by_definition(cumulative, start: dt.date):
    """The previous quarter's cumulative cohort, then each quarter from the first procedure's to
    the report's (``reports.disclosure``), each computed on its own."""
    releases = [cumulative.up_to(start - dt.timedelta(days=1))]
    performed = cumulative.procedures["performed_on"]
    if performed.empty:
        return releases
    first = performed.min().date()
    year, quarter = first.year, (first.month - 1) // 3 + 1
    while (begin := services.quarter_bounds(year, quarter)[0]) < start:
        releases.append(cumulative.performed_between(begin, services.quarter_bounds(year, quarter)[1]))
        year, quarter = (year + 1, 1) if quarter == 4 else (year, quarter + 1)
    return releases


def guarded(frames, site, year: int, quarter: int, *, counted: bool):
    start, end = services.quarter_bounds(year, quarter)
    cumulative = frames.up_to(end).for_sites([site.id])
    references = (
        contained_counts(cumulative, start=start)
        if counted
        else [compute_all(f) for f in releases_by_definition(cumulative, start)]
    )
    contained = [compute_all(cumulative.performed_between(start, end)), *references]
    return guard_differences(compute_all(cumulative), contained=contained)


def test_the_guard_withholds_the_same_figures_from_the_counts_of_the_releases(cohort, site_a, site_b):
    withheld = 0
    for year, quarter in ((2025, 4), (2026, 1), (2026, 2)):
        end = services.quarter_bounds(year, quarter)[1]
        frames = load_frames(CohortFilter(performed_to=end), as_of=end)
        for site in (site_a, site_b):
            full = guarded(frames, site, year, quarter, counted=False)
            counts = guarded(frames, site, year, quarter, counted=True)
            assert shown(counts) == shown(full), (site.code, year, quarter)
            withheld += withheld_count(full)
    # The comparison is not vacuous: the cohort's cumulative sections do withhold figures.
    assert withheld > 0
