"""Bernoulli CUSUM and exact funnel limits (reports/monitoring.py), and one alert per signal."""

import math
import random

import pytest

from reports.monitoring import CusumDesign, bernoulli_cusum, exact_binomial_limits, outside_funnel

LEAK_P0 = 15 / 41  # 001 Table 3: 15 of 41 levels leaked
DESIGN = CusumDesign.from_benchmark(LEAK_P0, multiple=2, h=4.5)


def simulated_levels(rate: float, n: int, seed: int) -> list[bool]:
    rng = random.Random(seed)
    return [rng.random() < rate for _ in range(n)]


def test_design_follows_the_data_dictionary():
    assert DESIGN.p0 == LEAK_P0 and DESIGN.p1 == pytest.approx(30 / 41) and DESIGN.h == 4.5
    assert DESIGN.event_weight == pytest.approx(math.log(2))
    assert DESIGN.non_event_weight == pytest.approx(math.log((11 / 41) / (26 / 41)))


def test_cusum_steps_by_hand_with_reset():
    design = CusumDesign(p0=0.2, p1=0.4, h=1.5)
    up, down = math.log(2), math.log(0.6 / 0.8)  # 0.6931, -0.2877
    result = bernoulli_cusum([True, False, True, True, False], design)
    expected = [up, up + down, up + down + up, 0.0, down]
    # Observation 4 reaches 2*up + up + down = 1.79 >= 1.5: a signal, then a restart at 0.
    assert result.signals == (3,)
    assert result.values[:3] == pytest.approx(expected[:3])
    assert result.values[3] == pytest.approx(3 * up + down)
    assert result.values[4] == 0.0  # max(0, 0 + down)


def test_a_site_whose_leak_rate_doubles_signals():
    result = bernoulli_cusum(simulated_levels(2 * LEAK_P0, 100, seed=2026), DESIGN)
    assert result.signals and result.signals[0] < 30


def test_a_site_at_the_benchmark_rate_stays_quiet():
    # With this seed; in 1,000 seeds about 15 % of in-control sites signal within 100 levels
    # (the limits stated on the monitoring page).
    outcomes = simulated_levels(LEAK_P0, 100, seed=2026)
    assert 25 <= sum(outcomes) <= 48
    assert bernoulli_cusum(outcomes, DESIGN).signals == ()


def test_exact_binomial_funnel_limits_by_hand():
    # Binomial(10, 0.5): P(X <= 1) = 11/1024 < 0.025 <= P(X <= 2) = 56/1024 -> low 2; high 8 by symmetry.
    assert exact_binomial_limits(0.5, 10, 0.95) == (0.2, 0.8)
    # 99.8 %: P(X <= 0) = 1/1024 < 0.001 <= P(X <= 1) -> 1 and 9.
    assert exact_binomial_limits(0.5, 10, 0.998) == (0.1, 0.9)
    assert outside_funnel(10, 10, 0.5, 0.95) and not outside_funnel(8, 10, 0.5, 0.95)
