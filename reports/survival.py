"""Kaplan–Meier estimates and the log-rank test, as pure functions (no ORM, no I/O).

Survival and the log-rank statistic are exact: products and sums of ``Fraction`` built from the
integer counts at each event time, so a hand computation matches to the last digit. Only the p
value (chi-square tail, scipy) and the Greenwood interval are floating point. At a time where
events and censorings coincide, the censored subjects count as at risk (the usual convention,
and lifelines').
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from scipy.stats import chi2 as chi2_distribution

Z_95 = 1.959963984540054


@dataclass(frozen=True)
class KMStep:
    day: int
    at_risk: int
    events: int
    censored: int
    survival: Fraction  # S(day), just after the events of this day


@dataclass(frozen=True)
class KaplanMeier:
    durations: tuple[int, ...]  # sorted
    steps: tuple[KMStep, ...]

    @property
    def n(self) -> int:
        return len(self.durations)

    @property
    def events(self) -> int:
        return sum(step.events for step in self.steps)

    def survival_at(self, day: int) -> Fraction:
        value = Fraction(1)
        for step in self.steps:
            if step.day > day:
                break
            value = step.survival
        return value

    def at_risk_at(self, day: int) -> int:
        """Subjects still observed at ``day`` (the number at risk printed under the plot)."""
        return len(self.durations) - bisect_left(self.durations, day)

    def interval_at(self, day: int, z: float = Z_95) -> tuple[float, float] | None:
        """Greenwood variance on the log(−log) scale (bounded in 0–1); None where S is 0 or 1."""
        survival = self.survival_at(day)
        if survival in (0, 1):
            return None
        greenwood = sum(
            Fraction(step.events, step.at_risk * (step.at_risk - step.events))
            for step in self.steps
            if step.day <= day and step.events and step.at_risk > step.events
        )
        log_s = math.log(survival)
        spread = z * math.sqrt(float(greenwood)) / abs(log_s)
        low, high = math.exp(-math.exp(math.log(-log_s) + spread)), math.exp(-math.exp(math.log(-log_s) - spread))
        return low, high


def kaplan_meier(durations: Sequence[int], events: Sequence[bool]) -> KaplanMeier:
    """``durations[i]``: days from time zero to the event or censoring; ``events[i]``: True for an event."""
    if len(durations) != len(events):
        raise ValueError("durations and events differ in length")
    ordered = sorted(int(d) for d in durations)
    if ordered and ordered[0] < 0:
        raise ValueError("a duration is negative")
    leaving = Counter(ordered)
    dying = Counter(int(d) for d, e in zip(durations, events, strict=True) if e)
    steps, survival, at_risk = [], Fraction(1), len(ordered)
    for day in sorted(leaving):
        died = dying[day]
        if died:
            survival *= Fraction(at_risk - died, at_risk)
        steps.append(KMStep(day=day, at_risk=at_risk, events=died, censored=leaving[day] - died, survival=survival))
        at_risk -= leaving[day]
    return KaplanMeier(durations=tuple(ordered), steps=tuple(steps))


@dataclass(frozen=True)
class LogRank:
    statistic: Fraction
    df: int
    p_value: float
    observed: Mapping[str, int]
    expected: Mapping[str, Fraction]


def _solve(matrix: list[list[Fraction]], vector: list[Fraction]) -> list[Fraction] | None:
    """Gaussian elimination on fractions; None if the matrix is singular."""
    size = len(vector)
    rows = [list(row) + [value] for row, value in zip(matrix, vector, strict=True)]
    for column in range(size):
        pivot = next((r for r in range(column, size) if rows[r][column] != 0), None)
        if pivot is None:
            return None
        rows[column], rows[pivot] = rows[pivot], rows[column]
        for r in range(size):
            if r != column and rows[r][column] != 0:
                factor = rows[r][column] / rows[column][column]
                rows[r] = [a - factor * b for a, b in zip(rows[r], rows[column], strict=True)]
    return [rows[i][size] / rows[i][i] for i in range(size)]


def logrank(groups: Mapping[str, tuple[Sequence[int], Sequence[bool]]]) -> LogRank | None:
    """The k-group log-rank test (Mantel–Haenszel); None with fewer than two non-empty groups
    or no event at all."""
    data = {name: list(zip(map(int, d), map(bool, e), strict=True)) for name, (d, e) in groups.items() if len(d)}
    names = list(data)
    if len(names) < 2:
        return None
    k = len(names)
    # One sweep over the days in order: per group, how many leave the risk set on each day
    # (events and censorings) and how many have an event on it. O(n log n), not days × n.
    leaving = [Counter(day for day, _ in data[name]) for name in names]
    dying = [Counter(day for day, event in data[name] if event) for name in names]
    event_days = sorted(set().union(*dying))
    if not event_days:
        return None
    all_days = sorted(set().union(*leaving))
    at_risk = [len(data[name]) for name in names]
    observed = {name: sum(dying[i].values()) for i, name in enumerate(names)}
    expected = dict.fromkeys(names, Fraction(0))
    covariance = [[Fraction(0)] * k for _ in range(k)]
    for day in all_days:
        died = [dying[i][day] for i in range(k)]
        d = sum(died)
        if d:
            n = sum(at_risk)
            for i, name in enumerate(names):
                expected[name] += Fraction(d * at_risk[i], n)
            if n > 1:
                scale = Fraction(d * (n - d), n * n * (n - 1))
                for i in range(k):
                    for j in range(k):
                        covariance[i][j] += scale * (at_risk[i] * (n if i == j else 0) - at_risk[i] * at_risk[j])
        for i in range(k):
            at_risk[i] -= leaving[i][day]
    difference = [observed[name] - expected[name] for name in names[:-1]]
    reduced = [row[:-1] for row in covariance[:-1]]
    solution = _solve(reduced, difference)
    if solution is None:
        return None
    statistic = sum((a * b for a, b in zip(difference, solution, strict=True)), Fraction(0))
    return LogRank(
        statistic=statistic,
        df=k - 1,
        p_value=float(chi2_distribution.sf(float(statistic), k - 1)),
        observed=observed,
        expected=expected,
    )
