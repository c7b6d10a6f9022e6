"""Each new level is adjacent, remote or index-level, from the treated levels (DATA_DICTIONARY.md §6)."""

import pytest

from registry.fractures.classification import classify_level, classify_levels
from registry.fractures.models import FractureClass
from registry.procedures.models import VertebralLevel as V

A, R, I = FractureClass.ADJACENT, FractureClass.REMOTE, FractureClass.INDEX  # noqa: E741


@pytest.mark.parametrize(
    ("level", "treated", "expected"),
    [
        # One treated level: its two neighbours are adjacent, the level itself is index.
        (V.L1, [V.L1], I),
        (V.L2, [V.L1], A),
        (V.T12, [V.L1], A),  # across the thoracolumbar junction
        (V.L1, [V.T12], A),  # and the other way
        (V.T11, [V.L1], R),
        (V.L3, [V.L1], R),
        # Two treated levels, apart: both neighbours of each count.
        (V.T7, [V.T8, V.L2], A),
        (V.T9, [V.T8, V.L2], A),
        (V.L1, [V.T8, V.L2], A),
        (V.L3, [V.L2, V.T8], A),
        (V.T12, [V.T8, V.L2], R),
        (V.L2, [V.T8, V.L2], I),
        # Two contiguous treated levels: the level between is index, the outer neighbours adjacent.
        (V.T12, [V.T12, V.L1], I),
        (V.T11, [V.T12, V.L1], A),
        (V.L2, [V.T12, V.L1], A),
        (V.L3, [V.T12, V.L1], R),
        # Region boundaries: C7/T1 and L5/S1 are neighbours too.
        (V.T1, [V.C7], A),
        (V.S1, [V.L5], A),
        (V.C6, [V.T1], R),
    ],
)
def test_a_level_is_classified_from_the_treated_levels(level, treated, expected):
    assert classify_level(level, treated) == expected


def test_every_level_is_classified_against_every_treated_level():
    result = classify_levels([V.T11, V.L2, V.L4, V.T12], [V.T12, V.L3])
    assert result == {V.T11: A, V.T12: I, V.L2: A, V.L4: A}


def test_nothing_treated_makes_every_level_remote():
    assert set(classify_levels(list(V.values), []).values()) == {R}
