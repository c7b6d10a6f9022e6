"""Kaplan–Meier and log-rank (reports/survival.py) against a hand computation with censoring."""

from fractions import Fraction

import pytest

from reports.survival import kaplan_meier, logrank

# Group A: events on days 1, 2 and 4, censored on day 3.  Group B: censored on days 2 and 7,
# events on days 5 and 6.
A = ([1, 2, 3, 4], [True, True, False, True])
B = ([2, 5, 6, 7], [False, True, True, False])


def test_kaplan_meier_steps_number_at_risk_and_estimates_by_hand():
    km = kaplan_meier(A[0] + B[0], A[1] + B[1])

    # day: at risk, events, censored.  S = product of (n - d) / n over event days.
    assert [(s.day, s.at_risk, s.events, s.censored) for s in km.steps] == [
        (1, 8, 1, 0),
        (2, 7, 1, 1),  # the censored subject of day 2 is at risk on day 2
        (3, 5, 0, 1),
        (4, 4, 1, 0),
        (5, 3, 1, 0),
        (6, 2, 1, 0),
        (7, 1, 0, 1),
    ]
    assert km.survival_at(0) == 1
    assert km.survival_at(1) == Fraction(7, 8)
    assert km.survival_at(3) == Fraction(7, 8) * Fraction(6, 7) == Fraction(3, 4)
    assert km.survival_at(4) == Fraction(3, 4) * Fraction(3, 4) == Fraction(9, 16)
    assert km.survival_at(6) == Fraction(9, 16) * Fraction(2, 3) * Fraction(1, 2) == Fraction(3, 16)
    assert km.survival_at(100) == Fraction(3, 16)
    assert [km.at_risk_at(day) for day in (0, 2, 3, 5, 8)] == [8, 7, 5, 3, 0]
    assert (km.n, km.events) == (8, 5)


def test_greenwood_interval_on_the_log_log_scale_by_hand():
    km = kaplan_meier(*A)
    # S(2) = 3/4 * 2/3 = 1/2; Greenwood sum = 1/(4*3) + 1/(3*2) = 1/4.
    # log-log: exp(-exp(ln(-ln S) ± 1.96 * sqrt(1/4) / |ln S|)).
    import math

    log_s = math.log(0.5)
    spread = 1.959963984540054 * 0.5 / abs(log_s)
    expected = (
        math.exp(-math.exp(math.log(-log_s) + spread)),
        math.exp(-math.exp(math.log(-log_s) - spread)),
    )
    assert km.interval_at(2) == pytest.approx(expected)
    assert km.interval_at(0) is None


def test_log_rank_two_groups_by_hand():
    # Event days 1, 2, 4, 5, 6.  (n_A, n_B, deaths; E_A = d n_A / n; V = d (n-d) n_A n_B / (n² (n-1)))
    # day 1: 4, 4, 1 -> E_A 1/2, V 1/4;  day 2: 3, 4, 1 -> 3/7, 12/49;  day 4: 1, 3, 1 -> 1/4, 3/16;
    # days 5 and 6: A has nobody at risk -> 0, 0.
    # O_A = 3, E_A = 33/28, V = 535/784: chi² = (51/28)² / (535/784) = 2601/535 = 4.8617
    result = logrank({"A": A, "B": B})

    assert result.observed == {"A": 3, "B": 2}
    assert result.expected == {"A": Fraction(33, 28), "B": Fraction(107, 28)}
    assert result.statistic == Fraction(2601, 535)
    assert result.df == 1
    assert result.p_value == pytest.approx(0.027459549, rel=1e-6)  # chi2.sf(4.8617, 1)


def test_log_rank_three_groups_equals_the_two_group_test_when_one_group_is_empty():
    assert logrank({"A": A, "B": B, "C": ([], [])}) == logrank({"A": A, "B": B})
    three = logrank({"A": A, "B": B, "C": ([1, 3, 8], [True, True, True])})
    assert three.df == 2 and 0 < three.p_value < 1


def test_no_event_or_one_group_gives_no_test():
    assert logrank({"A": ([1, 2], [False, False]), "B": ([3], [False])}) is None
    assert logrank({"A": A}) is None
