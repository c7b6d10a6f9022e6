"""Scoring rules for the follow-up instruments (data dictionary, section 4).

Pure functions on plain values: no ORM and no Django, so the survey views, the API, the
reports and the imports all score the same way and the rules can be tested
exhaustively. Invalid input raises InvalidScoreError (a ValueError); a value that is
simply missing is None and is never scored as 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

ODI_SECTIONS: tuple[str, ...] = (
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
ODI_MAX_PER_SECTION = 5
# ODI v2.1a tolerates one skipped section (often sex life); with two or more the score
# is not computed at all rather than estimated.
ODI_MIN_ANSWERED = len(ODI_SECTIONS) - 1
ODI_CLINICALLY_IMPORTANT_POINTS = 10

# Upper bound (inclusive, whole percent) of each band, lowest first.
ODI_BANDS: tuple[tuple[int, str], ...] = (
    (20, "minimal"),
    (40, "moderate"),
    (60, "severe"),
    (80, "crippling"),
    (100, "bed_bound"),
)

VAS_MIN = Decimal(0)
VAS_MAX = Decimal(10)
VAS_STEP = Decimal("0.1")
VAS_CLINICALLY_IMPORTANT_POINTS = Decimal(2)
VAS_CLINICALLY_IMPORTANT_FRACTION = Decimal("0.3")

KARNOFSKY_STEP = 10
KARNOFSKY_MAX = 100
ROLAND_MORRIS_MAX = 24

# The discharge-list red flags asked in the early survey (data dictionary, section 3).
RED_FLAG_CODES: tuple[str, ...] = (
    "fever_chills",
    "wound",
    "leg_neuro",
    "bladder_bowel",
    "breathless_chest_pain",
    "new_back_pain",
)


class InvalidScoreError(ValueError):
    """An answer or score outside what the instrument allows (wrong type or range)."""


@dataclass(frozen=True)
class OdiScore:
    """An ODI result.

    `percent` is the exact score as a float (e.g. 44.444… when one section is
    skipped); round only for display, with `rounded_percent`, so that means and changes
    in reports are not built on rounded values. `complete` is True when the score could
    be computed (at most one section unanswered); otherwise `percent` and `band` are
    None and `answered` says how many sections were answered.
    """

    percent: float | None
    answered: int
    complete: bool
    band: str | None
    total: int
    missing: tuple[str, ...]

    @property
    def rounded_percent(self) -> Decimal | None:
        """The percent to one decimal, half up, for display and storage."""
        if self.percent is None:
            return None
        return _to_decimal(self.percent).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def odi_score(answers: Mapping[str, int | None]) -> OdiScore:
    """Score ODI answers keyed by section code; an absent key counts as unanswered."""
    unknown = sorted(set(answers) - set(ODI_SECTIONS))
    if unknown:
        raise InvalidScoreError(f"Unknown ODI section code(s): {', '.join(unknown)}.")
    values = {code: _odi_value(code, answers.get(code)) for code in ODI_SECTIONS}
    missing = tuple(code for code, value in values.items() if value is None)
    answered = len(ODI_SECTIONS) - len(missing)
    total = sum(value for value in values.values() if value is not None)
    if answered < ODI_MIN_ANSWERED:
        return OdiScore(None, answered, False, None, total, missing)
    percent = total * 100 / (ODI_MAX_PER_SECTION * answered)
    return OdiScore(percent, answered, True, odi_band(percent), total, missing)


def _odi_value(code: str, value: object) -> int | None:
    if value is None:
        return None
    # bool is an int subclass; True must not sneak in as a score of 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidScoreError(f"ODI section {code!r} must be a whole number 0–5, got {value!r}.")
    if not 0 <= value <= ODI_MAX_PER_SECTION:
        raise InvalidScoreError(f"ODI section {code!r} must be between 0 and 5, got {value}.")
    return value


def odi_band(percent: float | Decimal) -> str:
    """Band an ODI percent (0–100).

    The published bands are whole-number ranges (0–20, 21–40, …) that leave gaps such as
    20.4; the percent is therefore rounded to the nearest whole number, half up, before
    banding: 20.4 is minimal, 20.5 and 20.9 are moderate.
    """
    whole = _to_decimal(percent).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    if not 0 <= whole <= 100:
        raise InvalidScoreError(f"ODI percent must be between 0 and 100, got {percent}.")
    return next(band for upper, band in ODI_BANDS if whole <= upper)


def odi_clinically_important(baseline_percent: float | None, follow_up_percent: float | None) -> bool | None:
    """True when the ODI fell by 10 points or more; None if either score is missing."""
    if baseline_percent is None or follow_up_percent is None:
        return None
    drop = _to_decimal(baseline_percent) - _to_decimal(follow_up_percent)
    return drop >= ODI_CLINICALLY_IMPORTANT_POINTS


def vas_validate(value: float | str | Decimal) -> Decimal:
    """Return a VAS / NRS pain score as a Decimal with one decimal place (0.0–10.0).

    Accepts whole numbers or one decimal (5, 5.5, "5.5"); rejects anything finer (5.55)
    or out of range.
    """
    number = _to_decimal(value)
    if not VAS_MIN <= number <= VAS_MAX:
        raise InvalidScoreError(f"VAS must be between 0 and 10, got {value!r}.")
    rounded = number.quantize(VAS_STEP)
    if rounded != number:
        raise InvalidScoreError(f"VAS allows at most one decimal place, got {value!r}.")
    return rounded


def vas_clinically_important(
    baseline: float | str | Decimal | None,
    follow_up: float | str | Decimal | None,
) -> bool | None:
    """True when pain fell by at least 2 points or at least 30 % of the baseline.

    None when either value is missing. A baseline of 0 leaves no room to improve: False.
    """
    if baseline is None or follow_up is None:
        return None
    before, after = vas_validate(baseline), vas_validate(follow_up)
    drop = before - after
    if drop <= 0:
        return False
    # Decimal keeps the 30 % edge exact (5.0 → 3.5 is exactly 30 %).
    return drop >= VAS_CLINICALLY_IMPORTANT_POINTS or drop >= before * VAS_CLINICALLY_IMPORTANT_FRACTION


def karnofsky_validate(value: int) -> int:
    """Return a Karnofsky performance status: 0–100 in steps of 10."""
    _require_int("Karnofsky", value)
    if not 0 <= value <= KARNOFSKY_MAX or value % KARNOFSKY_STEP:
        raise InvalidScoreError(f"Karnofsky must be 0–100 in steps of 10, got {value}.")
    return value


def roland_morris_validate(value: int) -> int:
    """Return a Roland–Morris disability score: 0–24."""
    _require_int("Roland–Morris", value)
    if not 0 <= value <= ROLAND_MORRIS_MAX:
        raise InvalidScoreError(f"Roland–Morris must be between 0 and 24, got {value}.")
    return value


def red_flags_raised(answers: Mapping[str, bool | None]) -> tuple[str, ...]:
    """The red-flag codes answered yes, in RED_FLAG_CODES order.

    None (unanswered) raises nothing; the survey form decides whether a screen with
    unanswered items may be submitted.
    """
    unknown = sorted(set(answers) - set(RED_FLAG_CODES))
    if unknown:
        raise InvalidScoreError(f"Unknown red-flag code(s): {', '.join(unknown)}.")
    for code, answer in answers.items():
        if answer is not None and not isinstance(answer, bool):
            raise InvalidScoreError(f"Red flag {code!r} must be True, False or None, got {answer!r}.")
    return tuple(code for code in RED_FLAG_CODES if answers.get(code) is True)


def _require_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidScoreError(f"{name} must be a whole number, got {value!r}.")


def _to_decimal(value: object) -> Decimal:
    # bool is an int subclass and would otherwise pass as 0 or 1.
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise InvalidScoreError(f"Expected a number, got {value!r}.")
    try:
        # str() of a float is its shortest repr, so 5.5 becomes Decimal("5.5"), not the
        # binary expansion 5.5000000000000000001….
        number = Decimal(str(value).strip()) if isinstance(value, (float, str)) else Decimal(value)
    except InvalidOperation:
        raise InvalidScoreError(f"Expected a number, got {value!r}.") from None
    if not number.is_finite():
        raise InvalidScoreError(f"Expected a finite number, got {value!r}.")
    return number
