"""Which kind of new fracture a level is, from the levels treated before it (DATA_DICTIONARY.md §6).

Pure functions: the registry classifies, nobody chooses. A treated level is an index-level
refracture or collapse; a vertebra immediately above or below any treated level is adjacent (the
ordinals of ``VertebralLevel`` make T12 and L1 neighbours); any other level is remote.
"""

from __future__ import annotations

from collections.abc import Iterable

from registry.fractures.models import FractureClass
from registry.procedures.models import levels_adjacent


def classify_level(level: int, treated_levels: Iterable[int]) -> FractureClass:
    treated = {int(t) for t in treated_levels}
    if int(level) in treated:
        return FractureClass.INDEX
    if any(levels_adjacent(level, t) for t in treated):
        return FractureClass.ADJACENT
    return FractureClass.REMOTE


def classify_levels(levels: Iterable[int], treated_levels: Iterable[int]) -> dict[int, FractureClass]:
    treated = [int(t) for t in treated_levels]
    return {int(level): classify_level(level, treated) for level in levels}
