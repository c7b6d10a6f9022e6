"""Kaplan–Meier estimates and the log-rank test, as pure functions (no ORM, no I/O).

Survival and the log-rank statistic are exact: products and sums of ``Fraction`` built from the
integer counts at each event time, so a hand computation matches to the last digit. Only the p
value (chi-square tail, scipy) and the Greenwood interval are floating point. At a time where
events and censorings coincide, the censored subjects count as at risk (the usual convention,
and lifelines').
"""

from __future__ import annotations

import math
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
    durations: tuple[int, ...]
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
        return sum(1 for duration in self.durations if duration >= day)

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
    if any(int(d) < 0 for d in durations):
        raise ValueError("a duration is negative")
    pairs = sorted((int(d), bool(e)) for d, e in zip(durations, events, strict=True))
    steps, survival, index, at_risk = [], Fraction(1), 0, len(pairs)
    while index < len(pairs):
        day = pairs[index][0]
        died = censored = 0
        while index < len(pairs) and pairs[index][0] == day:
            died += pairs[index][1]
            censored += not pairs[index][1]
            index += 1
        if died:
            survival *= Fraction(at_risk - died, at_risk)
        steps.append(KMStep(day=day, at_risk=at_risk, events=died, censored=censored, survival=survival))
        at_risk -= died + censored
    return KaplanMeier(durations=tuple(d for d, _ in pairs), steps=tuple(steps))


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
    event_days = sorted({day for rows in data.values() for day, event in rows if event})
    if not event_days:
        return None
    k = len(names)
    observed = {name: sum(event for _, event in data[name]) for name in names}
    expected = dict.fromkeys(names, Fraction(0))
    covariance = [[Fraction(0)] * k for _ in range(k)]
    for day in event_days:
        at_risk = [sum(1 for d, _ in data[name] if d >= day) for name in names]
        died = [sum(1 for d, e in data[name] if d == day and e) for name in names]
        n, d = sum(at_risk), sum(died)
        for i, name in enumerate(names):
            expected[name] += Fraction(d * at_risk[i], n)
        if n < 2:
            continue
        scale = Fraction(d * (n - d), n * n * (n - 1))
        for i in range(k):
            for j in range(k):
                covariance[i][j] += scale * (at_risk[i] * (n if i == j else 0) - at_risk[i] * at_risk[j])
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
