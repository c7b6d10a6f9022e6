"""The disclosure guard compares a cumulative section with counts-only releases
(``compute_all(counts_only=True)``, issue #10): it must withhold exactly what it withheld when
it compared with the full figures."""

from __future__ import annotations

import dataclasses

import pytest

from reports import services
from reports.disclosure import contained_releases, guard_differences, is_withheld
from reports.loaders import CohortFilter, load_frames
from reports.metrics import compute_all, grouped_summaries
from reports.stats import MeanSummary, mean_summary
from tests.reports.cohort import build_cohort


@pytest.fixture
def cohort(site_a, site_b):
    return build_cohort(site_a, site_b)


def shown(value):
    """Every figure with its type and withheld mark (a WithheldCount equals its plain int)."""
    if dataclasses.is_dataclass(value):
        return (type(value).__name__, {f.name: shown(getattr(value, f.name)) for f in dataclasses.fields(value)})
    if isinstance(value, dict):
        return {key: shown(item) for key, item in value.items()}
    return (type(value).__name__, is_withheld(value), repr(value))


def withheld_count(value) -> int:
    if dataclasses.is_dataclass(value):
        own = int(is_withheld(value))
        return own + sum(withheld_count(getattr(value, f.name)) for f in dataclasses.fields(value))
    if isinstance(value, dict):
        return sum(withheld_count(item) for item in value.values())
    return int(is_withheld(value))


def guarded(frames, site, year: int, quarter: int, *, counts_only: bool):
    start, end = services.quarter_bounds(year, quarter)
    cumulative = frames.up_to(end).for_sites([site.id])
    contained = [
        compute_all(cumulative.performed_between(start, end)),
        *(compute_all(f, counts_only=counts_only) for f in contained_releases(cumulative, start=start)),
    ]
    return guard_differences(compute_all(cumulative), contained=contained)


def test_the_guard_withholds_the_same_figures_from_counts_only_releases(cohort, site_a, site_b):
    withheld = 0
    for year, quarter in ((2025, 4), (2026, 1), (2026, 2)):
        end = services.quarter_bounds(year, quarter)[1]
        frames = load_frames(CohortFilter(performed_to=end), as_of=end)
        for site in (site_a, site_b):
            full = guarded(frames, site, year, quarter, counts_only=False)
            counts = guarded(frames, site, year, quarter, counts_only=True)
            assert shown(counts) == shown(full), (site.code, year, quarter)
            withheld += withheld_count(full)
    # The comparison is not vacuous: the cohort's cumulative sections do withhold figures.
    assert withheld > 0


def test_a_counts_only_summary_keeps_the_number_of_values_only():
    assert mean_summary([1.5, None, float("nan"), 3.0], scale=10, counts_only=True) == MeanSummary(
        n=2, mean=None, sd=None, ci_low=None, ci_high=None, min=None, max=None
    )


def test_counts_only_grouped_summaries_keep_every_group_and_its_n():
    import pandas as pd

    values = pd.Series([1.0, 2.0, None, 4.0, None])
    by = [pd.Series(["a", "a", "a", "b", "c"])]
    full = grouped_summaries(values, by, scale=10)
    counts = grouped_summaries(values, by, scale=10, counts_only=True)

    assert {key: s.n for key, s in counts.items()} == {("a",): 2, ("b",): 1, ("c",): 0}
    assert {key: s.n for key, s in full.items()} == {key: s.n for key, s in counts.items()}
    assert all(s.mean is None for s in counts.values())
