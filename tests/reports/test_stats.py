import math

import pandas as pd
import pytest
from scipy.stats import t as t_distribution

from reports.stats import (
    SMALL_CELL,
    MeanSummary,
    format_mean,
    format_number,
    format_proportion,
    mann_whitney,
    mean_summary,
    paired_change,
    proportion,
    suppress_count,
    welch_t_test,
)

Z = 1.959963984540054  # normal 97.5 % quantile, as printed in tables to 1.96


def hand_wilson(k, n):
    p = k / n
    centre = (p + Z**2 / (2 * n)) / (1 + Z**2 / n)
    half = Z / (1 + Z**2 / n) * math.sqrt(p * (1 - p) / n + Z**2 / (4 * n**2))
    return centre - half, centre + half


# --- proportions ---


@pytest.mark.parametrize(
    ("count", "denominator", "low", "high"),
    [
        (15, 41, 0.23590, 0.51879),
        (12, 41, 0.17609, 0.44479),
        (0, 10, 0.0, 0.27753),  # upper = z^2 / (n + z^2)
        (10, 10, 0.72247, 1.0),  # lower = n / (n + z^2)
        (1, 2, 0.09453, 0.90547),
    ],
)
def test_wilson_interval_matches_known_values(count, denominator, low, high):
    result = proportion(count, denominator)

    assert result.rate == count / denominator
    assert result.ci_low == pytest.approx(low, abs=5e-6)
    assert result.ci_high == pytest.approx(high, abs=5e-6)


@pytest.mark.parametrize(("count", "denominator"), [(15, 41), (1, 2), (3, 7), (43, 2933)])
def test_wilson_interval_matches_hand_formula(count, denominator):
    low, high = hand_wilson(count, denominator)

    result = proportion(count, denominator)

    assert result.ci_low == pytest.approx(low, rel=1e-12)
    assert result.ci_high == pytest.approx(high, rel=1e-12)


def test_wilson_interval_is_exactly_closed_at_zero_and_all_events():
    assert proportion(0, 10).ci_low == 0.0
    assert proportion(10, 10).ci_high == 1.0


def test_empty_denominator_has_no_rate_or_interval():
    result = proportion(0, 0)

    assert (result.count, result.denominator) == (0, 0)
    assert result.rate is None
    assert result.ci_low is None
    assert result.ci_high is None
    assert result.percent is None


@pytest.mark.parametrize(("count", "denominator"), [(5, 4), (-1, 4), (0, -1)])
def test_impossible_proportion_is_rejected(count, denominator):
    with pytest.raises(ValueError):
        proportion(count, denominator)


# --- means ---


def test_t_interval_matches_hand_calculation():
    # Given 1..5: mean 3, sample variance 10 / 4 = 2.5; t(0.975, 4) = 2.776445 (tables).
    half_width = 2.776445 * math.sqrt(2.5) / math.sqrt(5)

    result = mean_summary([1, 2, 3, 4, 5])

    assert result.n == 5
    assert result.mean == pytest.approx(3.0)
    assert result.sd == pytest.approx(math.sqrt(2.5))
    assert result.ci_low == pytest.approx(3 - half_width, abs=1e-6)
    assert result.ci_high == pytest.approx(3 + half_width, abs=1e-6)
    assert (result.min, result.max) == (1.0, 5.0)


def test_mean_summary_ignores_missing_values_in_a_list():
    result = mean_summary([2.0, None, float("nan"), 4.0, pd.NA])

    assert result.n == 2
    assert result.mean == 3.0
    assert result.sd == pytest.approx(math.sqrt(2))


def test_mean_summary_accepts_a_series_with_nan():
    result = mean_summary(pd.Series([1.0, float("nan"), 3.0]))

    assert result.n == 2
    assert result.mean == 2.0


def test_mean_summary_of_nothing_is_all_none():
    result = mean_summary([None, float("nan")])

    assert result == MeanSummary(n=0, mean=None, sd=None, ci_low=None, ci_high=None, min=None, max=None)


def test_mean_summary_of_one_value_has_no_spread():
    result = mean_summary([2.5])

    assert result == MeanSummary(n=1, mean=2.5, sd=None, ci_low=None, ci_high=None, min=2.5, max=2.5)


def test_paired_change_uses_only_rows_present_in_both():
    # Given: "a" has no follow-up, "d" did not answer, "e" has no baseline.
    baseline = pd.Series({"a": 8.0, "b": 7.0, "c": 9.0, "d": 6.0})
    follow_up = pd.Series({"b": 3.0, "c": 2.0, "d": None, "e": 1.0})

    result = paired_change(baseline, follow_up)

    # Then: only b (-4) and c (-7) pair; follow-up minus baseline.
    assert result.n == 2
    assert result.mean == pytest.approx(-5.5)
    assert result.sd == pytest.approx(math.sqrt(4.5))
    assert (result.min, result.max) == (-7.0, -4.0)


def test_paired_change_pairs_by_label_not_position():
    baseline = pd.Series([8.0, 6.0], index=["p1", "p2"])
    follow_up = pd.Series([5.0, 2.0], index=["p2", "p1"])

    result = paired_change(baseline, follow_up)

    assert sorted([result.min, result.max]) == [-6.0, -1.0]


def test_paired_change_refuses_duplicate_labels():
    with pytest.raises(ValueError):
        paired_change(pd.Series([1.0, 2.0], index=["p1", "p1"]), pd.Series([1.0], index=["p1"]))


# --- tests of difference ---


def test_welch_t_test_matches_hand_calculation():
    a, b = [1, 2, 3, 4], [2, 4, 6, 8, 10]
    se2_a, se2_b = (5 / 3) / 4, 10 / 5  # sample variances 5/3 and 10, over n
    t = (2.5 - 6.0) / math.sqrt(se2_a + se2_b)
    df = (se2_a + se2_b) ** 2 / (se2_a**2 / 3 + se2_b**2 / 4)

    statistic, p_value = welch_t_test(a, b)

    assert statistic == pytest.approx(t)
    assert p_value == pytest.approx(2 * t_distribution.sf(abs(t), df))


def test_welch_t_test_ignores_missing_and_needs_two_per_group():
    assert welch_t_test([1, 2, None], [3, 5]) == welch_t_test([1, 2], [3, 5])
    assert welch_t_test([1], [3, 5]) == (None, None)
    assert welch_t_test([1, 1], [1, 1]) == (None, None)


def test_mann_whitney_exact_for_fully_separated_groups():
    # U = 0 and P = 2 / C(6, 3) = 0.1 for the two orderings as extreme.
    statistic, p_value = mann_whitney([1, 2, 3], [4, 5, 6])

    assert statistic == 0
    assert p_value == pytest.approx(0.1)


def test_mann_whitney_with_an_empty_group_is_not_computed():
    assert mann_whitney([], [1, 2]) == (None, None)


# --- suppression and formatting ---


@pytest.mark.parametrize(("n", "shown"), [(0, "0"), (1, "<5"), (4, "<5"), (SMALL_CELL, "5"), (41, "41")])
def test_suppress_count(n, shown):
    assert suppress_count(n) == shown


def test_suppress_count_rejects_negative():
    with pytest.raises(ValueError):
        suppress_count(-1)


@pytest.mark.parametrize(
    ("value", "decimals", "shown"),
    [
        (2.25, 1, "2.3"),  # half up, not half to even
        (0.125, 2, "0.13"),
        (2.675, 2, "2.68"),  # stored as 2.67499..., shown as written
        (-0.04, 1, "0.0"),  # no "-0.0"
        (-1.25, 1, "-1.3"),
        (7, 2, "7.00"),
    ],
)
def test_format_number_rounds_half_away_from_zero(value, decimals, shown):
    assert format_number(value, decimals) == shown


def test_format_proportion_shows_count_denominator_rate_and_interval():
    assert format_proportion(proportion(12, 41), suppress=False) == ("12 / 41 (29.3 %, 95 % CI 17.6–44.5)")


def test_format_proportion_with_two_decimals():
    assert format_proportion(proportion(15, 41), suppress=False, decimals=2) == (
        "15 / 41 (36.59 %, 95 % CI 23.59–51.88)"
    )


def test_large_cells_are_shown_in_full_even_when_suppressing():
    assert format_proportion(proportion(12, 41), suppress=True) == ("12 / 41 (29.3 %, 95 % CI 17.6–44.5)")


def test_zero_events_are_not_suppressed():
    assert format_proportion(proportion(0, 41), suppress=True) == ("0 / 41 (0.0 %, 95 % CI 0.0–8.6)")


def test_all_events_in_a_large_group_are_not_suppressed():
    assert format_proportion(proportion(41, 41), suppress=True) == ("41 / 41 (100.0 %, 95 % CI 91.4–100.0)")


@pytest.mark.parametrize(
    ("count", "denominator", "shown"),
    [
        (3, 41, "<5 / 41 (—)"),
        (38, 41, ">36 / 41 (—)"),  # 3 without the event
        (2, 3, "<5 / <5 (—)"),
        (0, 3, "0 / <5 (—)"),
    ],
)
def test_small_cells_hide_the_count_and_the_rate(count, denominator, shown):
    assert format_proportion(proportion(count, denominator), suppress=True) == shown


def test_small_cells_are_shown_to_site_staff():
    assert format_proportion(proportion(3, 41), suppress=False) == ("3 / 41 (7.3 %, 95 % CI 2.5–19.4)")


def test_format_proportion_of_empty_denominator():
    assert format_proportion(proportion(0, 0), suppress=True) == "0 / 0 (—)"
    assert format_proportion(proportion(0, 0), suppress=False) == "0 / 0 (—)"


def test_format_mean_rounds_interval_half_up():
    summary = MeanSummary(n=41, mean=2.0, sd=0.8, ci_low=1.75, ci_high=2.25, min=1.0, max=4.0)

    assert format_mean(summary, "mL") == "2.0 ± 0.8 mL (n = 41, 95 % CI 1.8–2.3; range 1.0–4.0)"


def test_format_mean_with_two_decimals_and_no_unit():
    summary = mean_summary([1, 2, 3, 4, 5])

    assert format_mean(summary, decimals=2) == ("3.00 ± 1.58 (n = 5, 95 % CI 1.04–4.96; range 1.00–5.00)")


def test_format_mean_of_negative_change_uses_to():
    summary = MeanSummary(n=10, mean=-4.0, sd=1.0, ci_low=-4.72, ci_high=-3.28, min=-6, max=-2)

    assert format_mean(summary) == "-4.0 ± 1.0 (n = 10, 95 % CI -4.7 to -3.3; range -6.0 to -2.0)"


def test_format_mean_of_no_values_and_one_value():
    assert format_mean(mean_summary([]), "mL") == "— (n = 0)"
    assert format_mean(mean_summary([3]), "mL") == "3.0 mL (n = 1)"


def test_format_mean_suppresses_small_groups_for_reviewers():
    summary = mean_summary([1, 2, 3])

    assert format_mean(summary, "mL", suppress=True) == "— (n <5)"
    assert format_mean(summary, "mL").startswith("2.0 ± 1.0 mL (n = 3")
