"""What a reviewer could work out by subtracting one release from another (issue #10 item 6).

Inside one table, counts of 1-4 are hidden and a partner is withheld beside them, so that a
hidden cell is never a total minus the cells shown (``reports.tables.complementary``). Across
releases the same threshold applies to differences: a cumulative table is the previous one plus a
quarter, so subtracting two published tables would print the quarter's small cell that its own
table hides. The rule for aggregate-only users (reviewers):

1. Figures only at aligned points: a reviewer's dashboard covers one completed quarter, as known at
   the end of the last completed quarter (``reports.forms``, ``reports.views``); quarterly reports
   are as known at their quarter's end. No all-time window, no window still growing, no two windows
   a day apart, and the figures of a dashboard do not change until the next quarter ends.
2. Difference threshold (the "linked tables" rule of statistical disclosure control: the difference
   of two nested published tables is itself a table and must pass the same small-cell rule): a
   report's cumulative section withholds each figure whose count, denominator, complement
   (denominator - count) or number of values differs by 1-4 from the same figure of a release it
   contains: each quarter it spans (the report's own quarter section, and any quarter a reviewer
   can open on the dashboard) and the previous quarter's cumulative section, each recomputed from
   the same data (``contained_counts``). A withheld figure takes a partner in its breakdown
   (complementary suppression), so that the difference cannot be worked out from the totals either.
   The whole registry's report is exempt: administrators alone read it, and they see every figure.

Not covered: sums of several quarters other than the previous cumulative (e.g. the cumulative of
Qn minus that of Qn-2) are protected as far as the differences above are; figures as known on
different days (a quarter's follow-up seen at its end and a year later) differ by the events of
the time between, which are not a subgroup of patients.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import fields, replace

import numpy as np

from reports.metrics import Frames, Metrics, OutcomeRow
from reports.release_counts import release_counts
from reports.stats import SMALL_CELL, MeanSummary, Proportion


class WithheldCount(int):
    """A count withheld from reviewers (see the module docstring); arithmetic gives plain ints."""

    withheld = True


def is_withheld(value: object) -> bool:
    return bool(getattr(value, "withheld", False))


def _small(difference: int) -> bool:
    return 0 < abs(int(difference)) < SMALL_CELL


def _proportion_differs(value: Proportion, reference: Proportion) -> bool:
    return (
        _small(value.count - reference.count)
        or _small(value.denominator - reference.denominator)
        or _small((value.denominator - value.count) - (reference.denominator - reference.count))
    )


def _guard(value, references: list):
    if isinstance(value, Proportion):
        hit = any(_proportion_differs(value, r) for r in references if isinstance(r, Proportion))
        return replace(value, withheld=True) if hit else value
    if isinstance(value, MeanSummary):
        hit = any(_small(value.n - r.n) for r in references if isinstance(r, MeanSummary))
        return replace(value, withheld=True) if hit else value
    if isinstance(value, bool):
        return value
    if isinstance(value, int | np.integer):
        hit = any(_small(value - r) for r in references if isinstance(r, int | np.integer) and not isinstance(r, bool))
        return WithheldCount(value) if hit else value
    if isinstance(value, dict):
        # A group missing from a reference release reads as empty there: its difference is the
        # figure itself, hidden by the small-cell rule when small.
        return {
            key: _guard(item, [r[key] for r in references if isinstance(r, dict) and key in r])
            for key, item in value.items()
        }
    if isinstance(value, OutcomeRow):
        return OutcomeRow(
            **{
                name: _guard(getattr(value, name), [getattr(r, name) for r in references if isinstance(r, OutcomeRow)])
                for name in ("score", "change", "improved")
            }
        )
    return value


def guard_differences(metrics: Metrics, *, contained: list[Metrics]) -> Metrics:
    """``metrics`` with every figure that differs by 1-4 from the same figure of a ``contained``
    release marked withheld (rule 2 of the module docstring); ``reports.tables`` and
    ``reports.charts`` then show it as withheld, with a partner, to reviewers."""
    return Metrics(
        **{
            field.name: _guard(getattr(metrics, field.name), [getattr(r, field.name) for r in contained])
            for field in fields(Metrics)
        }
    )


def _quarter_start(day: dt.date) -> dt.date:
    return dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def contained_counts(cumulative: Frames, *, start: dt.date) -> list[Metrics]:
    """The counts (``reports.release_counts``: what the guard reads) of what a reviewer can hold
    beside the cumulative section of the report of the quarter that begins on ``start``: the
    previous quarter's cumulative cohort as known at that quarter's end (as its report showed it),
    and each earlier quarter on its own as known on the report's day (the report's own quarter is
    computed by the caller).

    The earlier quarters are counted together, grouped by the quarter each procedure was performed
    in: a registry's age adds groups, not passes over the data."""
    previous = cumulative.up_to(start - dt.timedelta(days=1))
    counts = release_counts(previous, release=np.zeros(len(previous.procedures), dtype=np.int64), releases=1)
    performed = cumulative.procedures["performed_on"]
    if performed.empty:
        return counts
    first = _quarter_start(performed.min().date())
    quarters = (start.year - first.year) * 4 + (start.month - first.month) // 3
    # Quarters since the first, numbered from 0; the report's own quarter (and any day without a
    # date) is in none of them.
    since_first = (performed.dt.year - first.year) * 4 + (performed.dt.month - first.month) // 3
    release = since_first.fillna(quarters).clip(upper=quarters).to_numpy(dtype=np.int64)
    return counts + release_counts(cumulative, release=release, releases=quarters)
