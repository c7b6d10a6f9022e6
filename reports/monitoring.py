"""Site monitoring statistics, as pure functions: the Bernoulli CUSUM and exact binomial funnel
limits (DATA_DICTIONARY.md §6, "Site monitoring").

The CUSUM accumulates the log-likelihood ratio of each outcome under the out-of-control rate p1
against the in-control rate p0 (Steiner et al. 2000; Reynolds & Stoumbos 1999):
``S_t = max(0, S_{t-1} + W_t)`` with ``W = ln(p1/p0)`` for an event and ``ln((1-p1)/(1-p0))``
otherwise; it signals when ``S_t >= h`` and restarts from 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy.stats import binom


@dataclass(frozen=True)
class CusumDesign:
    p0: float
    p1: float
    h: float

    def __post_init__(self) -> None:
        if not 0 < self.p0 < self.p1 < 1:
            raise ValueError(f"need 0 < p0 < p1 < 1, got p0={self.p0}, p1={self.p1}")
        if self.h <= 0:
            raise ValueError("the decision limit h must be positive")

    @classmethod
    def from_benchmark(cls, p0: float, *, multiple: float, h: float) -> CusumDesign:
        """p1 = multiple × p0; where that reaches 1, halfway from p0 to 1 instead."""
        p1 = p0 * multiple
        return cls(p0=p0, p1=p1 if p1 < 1 else (1 + p0) / 2, h=h)

    @property
    def event_weight(self) -> float:
        return math.log(self.p1 / self.p0)

    @property
    def non_event_weight(self) -> float:
        return math.log((1 - self.p1) / (1 - self.p0))


@dataclass(frozen=True)
class CusumResult:
    values: tuple[float, ...]
    signals: tuple[int, ...]  # 0-based positions of the observations at which S crossed h

    @property
    def current(self) -> float:
        return self.values[-1] if self.values else 0.0


def bernoulli_cusum(outcomes: Sequence[bool], design: CusumDesign, *, reset: bool = True) -> CusumResult:
    value, values, signals = 0.0, [], []
    up, down = design.event_weight, design.non_event_weight
    for position, outcome in enumerate(outcomes):
        value = max(0.0, value + (up if outcome else down))
        values.append(value)
        if value >= design.h:
            signals.append(position)
            if reset:
                value = 0.0
    return CusumResult(values=tuple(values), signals=tuple(signals))


def exact_binomial_limits(p0: float, n: int, coverage: float) -> tuple[float, float]:
    """The funnel's limits for a denominator of ``n``: the central ``coverage`` of Binomial(n, p0),
    as proportions (exact quantiles, so the limits are steps)."""
    if n <= 0:
        return 0.0, 1.0
    tail = (1 - coverage) / 2
    return float(binom.ppf(tail, n, p0)) / n, float(binom.ppf(1 - tail, n, p0)) / n


def outside_funnel(events: int, n: int, p0: float, coverage: float) -> bool:
    low, high = exact_binomial_limits(p0, n, coverage)
    return n > 0 and not low <= events / n <= high
