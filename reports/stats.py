"""Pure statistics for the registry's reports: no ORM, no Django.

Every figure a report shows beside a benchmark carries its count, denominator and a
95 % interval (DATA_DICTIONARY.md section 5): Wilson for proportions, Student's t for
means.

Comparisons. The "cement volume with vs without leak" line uses ``welch_t_test``: the
benchmark paper (001, Table 3) reports means ± SD with a p value, so a test of means is
the like-for-like comparison, and Welch's form does not assume that the groups share a
variance (001's do not: SD 0.68 vs 0.81 mL, n 15 vs 26). ``mann_whitney`` is there for
skewed measures and as a sensitivity check; the report does not print it by default.

Exact means. The registry's measures are decimals with a fixed number of places (VAS and
cement volume one decimal; ODI a multiple of 1/90 %: 100 x points / (5 x answered) with 9 or 10
sections answered). Summaries of such a measure are computed from integer sums of its values in
those units (``scale``): the mean, minimum and maximum are exact ``Fraction``s (``exact_mean``
...), the SD comes from the exact variance. So a mean of exactly 93/20 = 4.65 is rounded from
4.65, not from the float 4.6499999..., and shows as "4.7".

Rounding of displayed numbers (tests match reports "to the decimal shown"): an exact
``Fraction`` or ``Decimal`` is rounded half away from zero as it is; a float on its shortest
decimal representation (``repr``), so 2.25 shows as "2.3" and 0.125 with two decimals as
"0.13"; binary floating-point artefacts never tip a digit. Proportions show percentages with one decimal, means one decimal by
default (``decimals=2`` where the benchmark has two). Negative numbers use an ASCII
hyphen-minus so that the text parses back with ``float``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from functools import lru_cache
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

CONFIDENCE = 0.95
# Two-sided 95 % normal quantile, scipy.stats.norm.ppf(0.975).
Z_95 = 1.959963984540054

# Reviewer-facing output shows counts of 1 to SMALL_CELL - 1 as "<5". Zero is shown as
# "0": "nobody in this group had the event" points at no individual.
SMALL_CELL = 5
SUPPRESSED = f"<{SMALL_CELL}"
NOT_AVAILABLE = "\u2014"  # em dash
RANGE_DASH = "\u2013"  # en dash


@dataclass(frozen=True)
class Proportion:
    """count / denominator with a Wilson 95 % interval; rate and bounds are fractions.

    rate, ci_low and ci_high are None when the denominator is 0.
    """

    count: int
    denominator: int
    rate: float | None
    ci_low: float | None
    ci_high: float | None
    # Withheld from reviewers: it differs by 1-4 from a release it contains (reports.disclosure).
    withheld: bool = False

    @property
    def percent(self) -> float | None:
        return None if self.rate is None else self.rate * 100


@dataclass(frozen=True)
class MeanSummary:
    """Mean, sample SD (ddof=1) and t-based 95 % interval of the non-missing values.

    With n = 0 every statistic is None; with n = 1 the mean, min and max are the value
    and the SD and interval are None (one value has no spread).
    """

    n: int
    mean: float | None
    sd: float | None
    ci_low: float | None
    ci_high: float | None
    min: float | None
    max: float | None
    # The same mean, minimum and maximum as exact fractions, when the values had a known scale.
    exact_mean: Fraction | None = None
    exact_min: Fraction | None = None
    exact_max: Fraction | None = None
    # Withheld from reviewers: it differs by 1-4 from a release it contains (reports.disclosure).
    withheld: bool = False


class ComparisonResult(NamedTuple):
    """A test statistic and its two-sided p value: ``t, p = welch_t_test(a, b)``.

    Both are None when the test cannot be computed (too few values, no spread).
    """

    statistic: float | None
    p_value: float | None


def proportion(count: int, denominator: int) -> Proportion:
    if denominator < 0 or count < 0 or count > denominator:
        raise ValueError(f"need 0 <= count <= denominator, got {count} / {denominator}")
    if denominator == 0:
        return Proportion(count=0, denominator=0, rate=None, ci_low=None, ci_high=None)
    low, high = wilson_interval(count, denominator)
    return Proportion(
        count=count,
        denominator=denominator,
        rate=count / denominator,
        ci_low=low,
        ci_high=high,
    )


def wilson_interval(count: int, denominator: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval. Unlike the Wald interval it stays within 0-1 and is not
    empty at 0 or n events, which matters for the small counts of a single site."""
    n = denominator
    p = count / n
    z2 = z * z
    scale = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / scale
    half_width = z / scale * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    # At 0 or n events the bound is exactly 0 or 1; floating point can miss by 1e-16.
    low = 0.0 if count == 0 else max(0.0, centre - half_width)
    high = 1.0 if count == n else min(1.0, centre + half_width)
    return low, high


def _present_values(values: Iterable[object]) -> np.ndarray:
    """The values as a float array, skipping None, NaN, pd.NA and NaT (missing answers).

    Series and arrays take a vectorised path: the reports summarise columns of
    hundreds of thousands of answers.
    """
    if isinstance(values, (pd.Series, pd.Index, np.ndarray)):
        numbers = pd.to_numeric(pd.Series(values, copy=False), errors="raise").astype("float64")
        return numbers[numbers.notna()].to_numpy(dtype=float)
    present = []
    for value in values:
        if pd.isna(value):
            continue
        number = float(value)
        if math.isnan(number):
            continue
        present.append(number)
    return np.asarray(present, dtype=float)


def mean_summary(values: Iterable[object], *, scale: int | None = None) -> MeanSummary:
    """With ``scale``, every value times ``scale`` is a whole number (module docstring): the
    summary is exact."""
    present = _present_values(values)
    n = len(present)
    if n == 0:
        return summary_from_aggregates(0, None, None, None, None)
    if scale is not None:
        units = to_units(present, scale).astype(np.int64)
        total, squares = int(units.sum()), int((units * units).sum())
        return summary_from_sums(n, total, squares, int(units.min()), int(units.max()), scale=scale)
    array = np.asarray(present, dtype=float)
    sd = float(array.std(ddof=1)) if n > 1 else None
    return summary_from_aggregates(n, float(array.mean()), sd, float(array.min()), float(array.max()))


def count_summary(n: int) -> MeanSummary:
    """Only the number of values (the disclosure guard's reference releases need no more,
    ``reports.disclosure``): the mean, spread and interval are left out (None)."""
    return MeanSummary(n=int(n), mean=None, sd=None, ci_low=None, ci_high=None, min=None, max=None)


def summary_from_aggregates(
    n: int, mean: float | None, sd: float | None, minimum: float | None, maximum: float | None
) -> MeanSummary:
    """A MeanSummary from a group's count, mean, sample SD, min and max, as a grouped
    aggregation gives them (the reports summarise many groups in one pass)."""
    n = int(n)
    if n == 0:
        return MeanSummary(n=0, mean=None, sd=None, ci_low=None, ci_high=None, min=None, max=None)
    mean, low_value, high_value = float(mean), float(minimum), float(maximum)
    if n == 1 or sd is None or math.isnan(sd):
        return MeanSummary(n=n, mean=mean, sd=None, ci_low=None, ci_high=None, min=low_value, max=high_value)
    sd = float(sd)
    half_width = _t_critical(n - 1) * sd / math.sqrt(n)
    return MeanSummary(
        n=n,
        mean=mean,
        sd=sd,
        ci_low=mean - half_width,
        ci_high=mean + half_width,
        min=low_value,
        max=high_value,
    )


def to_units(values: np.ndarray, scale: int) -> np.ndarray:
    """Values of a measure with ``scale`` (e.g. 10 for one decimal) as whole units, NaN kept."""
    return np.rint(np.asarray(values, dtype=float) * scale)


def summary_from_sums(n: int, total: int, squares: int, minimum: int, maximum: int, *, scale: int) -> MeanSummary:
    """A MeanSummary from integer sums of values in units of 1 / ``scale``: exact mean and
    range, SD from the exact variance (n * sum(x^2) - sum(x)^2) / (n (n - 1))."""
    n = int(n)
    if n == 0:
        return summary_from_aggregates(0, None, None, None, None)
    mean = Fraction(int(total), n * scale)
    low, high = Fraction(int(minimum), scale), Fraction(int(maximum), scale)
    exact = {"exact_mean": mean, "exact_min": low, "exact_max": high}
    if n == 1:
        return MeanSummary(
            n=1, mean=float(mean), sd=None, ci_low=None, ci_high=None, min=float(low), max=float(high), **exact
        )
    variance = Fraction(n * int(squares) - int(total) ** 2, n * (n - 1) * scale * scale)
    sd = math.sqrt(variance)
    half_width = _t_critical(n - 1) * sd / math.sqrt(n)
    return MeanSummary(
        n=n,
        mean=float(mean),
        sd=sd,
        ci_low=float(mean) - half_width,
        ci_high=float(mean) + half_width,
        min=float(low),
        max=float(high),
        **exact,
    )


@lru_cache(maxsize=4096)
def _t_critical(degrees_of_freedom: int) -> float:
    return float(scipy_stats.t.ppf((1 + CONFIDENCE) / 2, degrees_of_freedom))


def paired_change(baseline: pd.Series, follow_up: pd.Series, *, scale: int | None = None) -> MeanSummary:
    """Summary of follow_up - baseline over the rows where both are present.

    Rows pair by index label (e.g. patient or procedure id), not by position, so a
    patient who answered only one of the two surveys is left out rather than paired with
    someone else. Follow-up minus baseline: a fall in VAS or ODI (improvement) is
    negative.
    """
    baseline, follow_up = pd.Series(baseline), pd.Series(follow_up)
    if not (baseline.index.is_unique and follow_up.index.is_unique):
        raise ValueError("paired_change needs one row per index label in each series")
    baseline, follow_up = baseline.align(follow_up, join="inner")
    before, after = pd.to_numeric(baseline), pd.to_numeric(follow_up)
    both_present = before.notna() & after.notna()
    return mean_summary(after[both_present] - before[both_present], scale=scale)


def welch_t_test(a: Iterable[object], b: Iterable[object]) -> ComparisonResult:
    """Welch's unequal-variance t test, two-sided; missing values ignored.

    The report uses this for "cement volume per level with vs without leak"
    (benchmark 001 Table 3: 2.13 ± 0.68 vs 1.95 ± 0.81 mL, p = 0.267).
    """
    first, second = _present_values(a), _present_values(b)
    if len(first) < 2 or len(second) < 2:
        return ComparisonResult(None, None)
    if np.var(first) == 0 and np.var(second) == 0:
        # No spread in either group: t is undefined (scipy would warn and answer NaN).
        return ComparisonResult(None, None)
    result = scipy_stats.ttest_ind(first, second, equal_var=False)
    return _comparison_result(result.statistic, result.pvalue)


def mann_whitney(a: Iterable[object], b: Iterable[object]) -> ComparisonResult:
    """Mann-Whitney U test, two-sided; missing values ignored. The statistic is the U
    of ``a``."""
    first, second = _present_values(a), _present_values(b)
    if len(first) == 0 or len(second) == 0:
        return ComparisonResult(None, None)
    result = scipy_stats.mannwhitneyu(first, second, alternative="two-sided")
    return _comparison_result(result.statistic, result.pvalue)


def _comparison_result(statistic: float, p_value: float) -> ComparisonResult:
    # scipy answers NaN for degenerate input; the report shows that as "—".
    if math.isnan(statistic) or math.isnan(p_value):
        return ComparisonResult(None, None)
    return ComparisonResult(float(statistic), float(p_value))


# --- reviewer-facing text ---------------------------------------------------------


def suppress_count(n: int) -> str:
    """'<5' for 1-4, otherwise the integer; 0 shows as '0' (it identifies nobody)."""
    if n < 0:
        raise ValueError(f"a count cannot be negative: {n}")
    if 0 < n < SMALL_CELL:
        return SUPPRESSED
    return str(n)


def format_number(value: float | Fraction | Decimal, decimals: int = 1) -> str:
    """``value`` rounded half away from zero to ``decimals`` places (module docstring)."""
    quantum = Decimal(1).scaleb(-decimals)
    if isinstance(value, Fraction):
        scaled = abs(value) * 10**decimals
        whole = math.floor(scaled + Fraction(1, 2))  # half away from zero, exactly
        rounded = (Decimal(whole if value >= 0 else -whole) * quantum).quantize(quantum)
    elif isinstance(value, Decimal):
        rounded = value.quantize(quantum, rounding=ROUND_HALF_UP)
    else:
        rounded = Decimal(repr(float(value))).quantize(quantum, rounding=ROUND_HALF_UP)
    if rounded == 0:
        rounded = abs(rounded)  # no "-0.0"
    return f"{rounded:f}"


def _interval(low: float, high: float, decimals: int) -> str:
    # "1.8–2.3", but "-2.0 to -0.5": a dash between negative numbers reads as a minus.
    separator = " to " if low < 0 or high < 0 else RANGE_DASH
    return f"{format_number(low, decimals)}{separator}{format_number(high, decimals)}"


def is_disclosive(p: Proportion) -> bool:
    """Whether the count, the denominator or the complement (denominator - count) is
    1-4. The complement counts: "38 / 41 had no leak" says that 3 had one."""
    cells = (p.count, p.denominator, p.denominator - p.count)
    return any(0 < n < SMALL_CELL for n in cells)


def format_proportion(p: Proportion, *, suppress: bool, decimals: int = 1) -> str:
    """'12 / 41 (29.3 %, 95 % CI 17.6–44.5)', percentages with ``decimals`` places.

    With ``suppress`` (reviewer-facing output) and a small cell, neither the rate nor
    its interval is shown, since either lets the reader back out the count: a count of
    1-4 shows as "<5" ("<5 / 41 (—)"), a denominator of 1-4 as "<5", and a count whose
    complement is 1-4 as ">" the denominator minus 5 (38 / 41 shows as ">36 / 41 (—)").
    An empty denominator shows "0 / 0 (—)".
    """
    if p.denominator == 0 or p.rate is None:
        return f"0 / 0 ({NOT_AVAILABLE})"
    if suppress and is_disclosive(p):
        complement = p.denominator - p.count
        if 0 < complement < SMALL_CELL and p.denominator >= SMALL_CELL:
            count_text = f">{p.denominator - SMALL_CELL}"
        else:
            count_text = suppress_count(p.count)
        return f"{count_text} / {suppress_count(p.denominator)} ({NOT_AVAILABLE})"
    percent = format_number(p.rate * 100, decimals)
    interval = _interval(p.ci_low * 100, p.ci_high * 100, decimals)
    return f"{p.count} / {p.denominator} ({percent} %, 95 % CI {interval})"


def format_mean(m: MeanSummary, unit: str = "", *, decimals: int = 1, suppress: bool = False) -> str:
    """'2.0 ± 0.8 mL (n = 41, 95 % CI 1.8–2.3; range 1.0–4.0)', numbers with
    ``decimals`` places (1 by default; 2 e.g. for volumes set against 001 Table 3).

    n = 0 gives "— (n = 0)"; n = 1 gives "3.0 mL (n = 1)". With ``suppress`` and n of
    1-4 only "— (n <5)" is shown: the mean or range of so few values discloses them.
    """
    unit_text = f" {unit}" if unit else ""
    if m.n == 0 or m.mean is None:
        return f"{NOT_AVAILABLE} (n = 0)"
    if suppress and m.n < SMALL_CELL:
        return f"{NOT_AVAILABLE} (n {SUPPRESSED})"
    mean = format_number(m.exact_mean if m.exact_mean is not None else m.mean, decimals)
    if m.sd is None or m.ci_low is None or m.ci_high is None:
        return f"{mean}{unit_text} (n = {m.n})"
    text = (
        f"{mean} ± {format_number(m.sd, decimals)}{unit_text} "
        f"(n = {m.n}, 95 % CI {_interval(m.ci_low, m.ci_high, decimals)}"
    )
    if suppress:
        # The minimum and maximum are one patient's values each: reviewers do not get them.
        return f"{text})"
    low = m.exact_min if m.exact_min is not None else m.min
    high = m.exact_max if m.exact_max is not None else m.max
    return f"{text}; range {_interval(low, high, decimals)})"
