"""Scoring rules of data dictionary section 4 and the red flags of section 3.

Pure functions: no database, no Django settings.
"""

import random
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.followup.scoring import (
    ODI_SECTIONS,
    RED_FLAG_CODES,
    OdiScore,
    karnofsky_validate,
    odi_band,
    odi_clinically_important,
    odi_score,
    red_flags_raised,
    roland_morris_validate,
    vas_clinically_important,
    vas_validate,
)

# Keep hypothesis from writing an example database into the project tree.
no_database = settings(database=None, deadline=None)


def all_sections(value):
    return dict.fromkeys(ODI_SECTIONS, value)


# --- ODI ------------------------------------------------------------------------------


def test_odi_sections_are_the_ten_in_questionnaire_order():
    assert ODI_SECTIONS == (
        "pain_intensity",
        "personal_care",
        "lifting",
        "walking",
        "sitting",
        "standing",
        "sleeping",
        "sex_life",
        "social_life",
        "travelling",
    )


def test_odi_all_answered_is_sum_times_two():
    answers = dict(zip(ODI_SECTIONS, [3, 2, 4, 1, 0, 5, 2, 3, 1, 0], strict=True))

    score = odi_score(answers)

    assert score == OdiScore(percent=42.0, answered=10, complete=True, band="severe", total=21, missing=())


def test_odi_sex_life_skipped_divides_by_45():
    answers = all_sections(2) | {"sex_life": None}

    score = odi_score(answers)

    assert score.percent == pytest.approx(18 / 45 * 100)
    assert score.answered == 9
    assert score.complete is True
    assert score.missing == ("sex_life",)
    assert score.band == "moderate"


def test_odi_absent_key_counts_as_skipped():
    answers = all_sections(2)
    del answers["sex_life"]

    assert odi_score(answers) == odi_score(all_sections(2) | {"sex_life": None})


def test_odi_two_skipped_is_incomplete_with_answered_count_and_no_percent():
    answers = all_sections(0) | {"sex_life": None, "lifting": None}

    score = odi_score(answers)

    assert score.percent is None
    assert score.band is None
    assert score.complete is False
    assert score.answered == 8
    assert score.missing == ("lifting", "sex_life")


def test_odi_nothing_answered_is_incomplete_not_zero():
    score = odi_score({})

    assert score.percent is None
    assert score.answered == 0
    assert score.complete is False
    assert len(score.missing) == 10


def test_odi_all_zero_is_zero_and_minimal():
    score = odi_score(all_sections(0))

    assert score.percent == 0
    assert score.band == "minimal"
    assert score.complete is True


def test_odi_all_five_is_one_hundred_and_bed_bound():
    score = odi_score(all_sections(5))

    assert score.percent == 100
    assert score.band == "bed_bound"


def test_odi_rounded_percent_is_for_display_only():
    score = odi_score(all_sections(2) | {"sex_life": None})

    assert score.percent == pytest.approx(40.0)
    assert odi_score(all_sections(4) | {"sex_life": None, "walking": 5}).rounded_percent == (Decimal("82.2"))
    assert odi_score({}).rounded_percent is None


@pytest.mark.parametrize("value", [-1, 6, 2.5, "3", True, Decimal(3)])
def test_odi_rejects_values_that_are_not_whole_numbers_0_to_5(value):
    with pytest.raises(ValueError, match="pain_intensity"):
        odi_score(all_sections(0) | {"pain_intensity": value})


def test_odi_rejects_unknown_section_codes():
    with pytest.raises(ValueError, match=r"Unknown ODI section code.*: walkin"):
        odi_score(all_sections(0) | {"walkin": 2})


@pytest.mark.parametrize(
    ("percent", "band"),
    [
        (0, "minimal"),
        (20, "minimal"),
        (20.4, "minimal"),
        (20.5, "moderate"),
        (20.9, "moderate"),
        (21, "moderate"),
        (40, "moderate"),
        (40.49, "moderate"),
        (40.5, "severe"),
        (41, "severe"),
        (60, "severe"),
        (61, "crippling"),
        (80, "crippling"),
        (80.6, "bed_bound"),
        (81, "bed_bound"),
        (100, "bed_bound"),
        (100.4, "bed_bound"),
        (Decimal("60.5"), "crippling"),
    ],
)
def test_odi_band_edges_band_on_the_percent_rounded_half_up(percent, band):
    assert odi_band(percent) == band


@pytest.mark.parametrize("percent", [-0.6, 100.5, 101, float("nan"), None, "high", True])
def test_odi_band_rejects_values_outside_0_to_100(percent):
    with pytest.raises(ValueError):
        odi_band(percent)


@pytest.mark.parametrize(
    ("baseline", "follow_up", "important"),
    [
        (50, 40, True),
        (50.0, 40.1, False),
        (74.7, 17.7, True),
        (40, 45, False),
        (400 / 9, 310 / 9, True),  # exactly 10 points with sex life skipped
        (None, 30, None),
        (30, None, None),
    ],
)
def test_odi_clinically_important_is_a_drop_of_at_least_10_points(baseline, follow_up, important):
    assert odi_clinically_important(baseline, follow_up) is important


@given(st.fixed_dictionaries({code: st.integers(0, 5) for code in ODI_SECTIONS}), st.data())
@no_database
def test_odi_complete_percent_is_within_0_and_100_whatever_is_skipped(answers, data):
    skipped = data.draw(st.sampled_from((None, *ODI_SECTIONS)))
    if skipped:
        answers[skipped] = None

    score = odi_score(answers)

    assert score.complete
    assert 0 <= score.percent <= 100
    assert score.band == odi_band(score.percent)


@given(
    st.fixed_dictionaries({code: st.one_of(st.none(), st.integers(0, 5)) for code in ODI_SECTIONS}),
    st.randoms(use_true_random=False),
)
@no_database
def test_odi_score_does_not_depend_on_section_order(answers, rng: random.Random):
    shuffled_items = list(answers.items())
    rng.shuffle(shuffled_items)

    assert odi_score(dict(shuffled_items)) == odi_score(answers)


@given(st.fixed_dictionaries({code: st.one_of(st.none(), st.integers(0, 5)) for code in ODI_SECTIONS}))
@no_database
def test_odi_incomplete_exactly_when_two_or_more_unanswered(answers):
    unanswered = sum(value is None for value in answers.values())

    score = odi_score(answers)

    assert score.complete is (unanswered <= 1)
    assert score.answered == 10 - unanswered
    assert (score.percent is None) is (unanswered >= 2)


# --- VAS ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, Decimal("0.0")),
        (10, Decimal("10.0")),
        (5.5, Decimal("5.5")),
        ("5.5", Decimal("5.5")),
        (Decimal("7.50"), Decimal("7.5")),
        (3, Decimal("3.0")),
    ],
)
def test_vas_accepts_whole_numbers_and_one_decimal_from_0_to_10(value, expected):
    assert vas_validate(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        10.1,
        -0.1,
        5.55,
        "5.55",
        11,
        -1,
        "",
        "abc",
        None,
        True,
        float("nan"),
        float("inf"),
    ],
)
def test_vas_rejects_out_of_range_too_precise_or_non_numbers(value):
    with pytest.raises(ValueError):
        vas_validate(value)


@given(st.integers(0, 100))
@no_database
def test_vas_accepts_every_tenth_from_0_to_10(tenths):
    assert vas_validate(tenths / 10) == Decimal(tenths) / 10


@pytest.mark.parametrize(
    ("baseline", "follow_up", "important"),
    [
        (9, 7, True),  # exactly 2 points (22 %)
        (9, 7.1, False),  # 1.9 points, 21 %
        (5, 3.5, True),  # exactly 30 % (1.5 points)
        (5, 3.6, False),  # 28 %
        (3, 2.1, True),  # exactly 30 % of a low baseline
        (8, 8, False),
        (3, 6, False),  # worse
        (0, 0, False),  # no pain to improve on
        (None, 4, None),
        (6, None, None),
    ],
)
def test_vas_clinically_important_is_a_drop_of_2_points_or_30_percent(baseline, follow_up, important):
    assert vas_clinically_important(baseline, follow_up) is important


def test_vas_clinically_important_validates_both_values():
    with pytest.raises(ValueError):
        vas_clinically_important(11, 5)


# --- Karnofsky and Roland-Morris ------------------------------------------------------


@pytest.mark.parametrize("value", [0, 10, 70, 100])
def test_karnofsky_accepts_steps_of_10(value):
    assert karnofsky_validate(value) == value


@pytest.mark.parametrize("value", [-10, 5, 75, 110, 70.0, "70", True, None])
def test_karnofsky_rejects_anything_else(value):
    with pytest.raises(ValueError):
        karnofsky_validate(value)


@pytest.mark.parametrize("value", [0, 12, 24])
def test_roland_morris_accepts_0_to_24(value):
    assert roland_morris_validate(value) == value


@pytest.mark.parametrize("value", [-1, 25, 3.5, "3", False, None])
def test_roland_morris_rejects_anything_else(value):
    with pytest.raises(ValueError):
        roland_morris_validate(value)


# --- Red flags ------------------------------------------------------------------------


def test_red_flag_codes_are_the_six_discharge_red_flags():
    assert RED_FLAG_CODES == (
        "fever_chills",
        "wound",
        "leg_neuro",
        "bladder_bowel",
        "breathless_chest_pain",
        "new_back_pain",
    )


def test_no_red_flag_when_all_answered_no():
    assert red_flags_raised(dict.fromkeys(RED_FLAG_CODES, False)) == ()


def test_red_flags_answered_yes_are_raised_in_list_order():
    answers = dict.fromkeys(RED_FLAG_CODES, False) | {
        "new_back_pain": True,
        "leg_neuro": True,
    }

    assert red_flags_raised(answers) == ("leg_neuro", "new_back_pain")


def test_unanswered_red_flags_raise_nothing():
    assert red_flags_raised({"fever_chills": None, "wound": True}) == ("wound",)
    assert red_flags_raised({}) == ()


@pytest.mark.parametrize("answers", [{"fever": True}, {"wound": "yes"}, {"wound": 1}])
def test_red_flags_reject_unknown_codes_and_non_boolean_answers(answers):
    with pytest.raises(ValueError):
        red_flags_raised(answers)
