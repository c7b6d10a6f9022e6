"""Figures recomputed by hand: textbook formulas with the standard library, written apart from
reports.stats so that a slip there cannot hide in the expected values. Only the t quantile
(a table value) comes from scipy."""

from __future__ import annotations

import math
import statistics
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from scipy.stats import t as t_distribution

Z = 1.959963984540054


def rounded(value: float, decimals: int = 1) -> str:
    text = str(Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP))
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def exact_rounded(value: Fraction, decimals: int = 1) -> str:
    """An exact mean (a fraction of integer sums) rounded half up, as a department expects."""
    numerator, denominator = value.numerator, value.denominator
    scaled = Decimal(abs(numerator) * 10**decimals) / Decimal(denominator)
    # Decimal division is exact to 28 digits; a true half stays a half.
    whole = scaled.quantize(Decimal(1), rounding=ROUND_HALF_UP)
    text = str((whole if numerator >= 0 else -whole).scaleb(-decimals))
    return text[1:] if text.startswith("-") and whole == 0 else text


def wilson(k: int, n: int) -> tuple[float, float]:
    p = k / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z / (1 + Z * Z / n) * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n))
    return (0.0 if k == 0 else centre - half), (1.0 if k == n else centre + half)


def interval(low: float, high: float, decimals: int) -> str:
    joiner = " to " if low < 0 or high < 0 else "–"
    return f"{rounded(low, decimals)}{joiner}{rounded(high, decimals)}"


def share(k: int, n: int) -> str:
    low, high = wilson(k, n)
    return f"{k} / {n} ({rounded(100 * k / n)} %, 95 % CI {interval(100 * low, 100 * high, 1)})"


def mean(values: list[float], unit: str = "", decimals: int = 1, *, with_range: bool = True) -> str:
    """Mean ± SD (n, CI; range); reviewers' figures have no range (one patient's value each)."""
    unit_text = f" {unit}" if unit else ""
    exact = sum(Fraction(v) if isinstance(v, (int, Fraction)) else Fraction(str(v)) for v in values) / len(values)
    m = statistics.fmean(values)
    if len(values) == 1:
        return f"{exact_rounded(exact, decimals)}{unit_text} (n = 1)"
    sd = statistics.stdev(values)
    half = t_distribution.ppf(0.975, len(values) - 1) * sd / math.sqrt(len(values))
    text = (
        f"{exact_rounded(exact, decimals)} ± {rounded(sd, decimals)}{unit_text} (n = {len(values)}, "
        f"95 % CI {interval(m - half, m + half, decimals)}"
    )
    if not with_range:
        return f"{text})"
    return f"{text}; range {interval(min(values), max(values), decimals)})"


def welch_p(a: list[float], b: list[float]) -> float:
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    t = (statistics.fmean(a) - statistics.fmean(b)) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return 2 * t_distribution.sf(abs(t), df)
