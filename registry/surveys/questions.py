"""The questions of one survey, built from the instrument files (wording is data) in one language.

A question is one form field: VAS, each ODI section, each red flag, each follow-up question and,
for coordinators, Karnofsky. Field names are stable ("odi_walking", "rf_wound") because drafts
store answers under them. ``answers_for_service`` turns those raw form values into the answer
format of ``registry.followup.services.survey_response_record``, which scores with scoring.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from registry.followup.instruments import FOLLOWUP_OPTION_CODES, instrument_text
from registry.followup.scoring import KARNOFSKY_MAX, KARNOFSKY_STEP, ODI_SECTIONS, RED_FLAG_CODES

# The ODI section a patient may skip and still get a score (DATA_DICTIONARY.md section 4).
ODI_OPTIONAL_SECTION = "sex_life"
RED_FLAG_PREFIX = "rf_"
ODI_PREFIX = "odi_"
YES, NO = "yes", "no"

# Patient steps in order; a step without questions for the event is left out.
STEP_PAIN, STEP_ODI, STEP_OTHER, STEP_REVIEW = "pain", "odi", "other", "review"
STEP_TITLES = {
    STEP_PAIN: gettext_lazy("Pain"),
    STEP_ODI: gettext_lazy("Daily activities"),
    STEP_OTHER: gettext_lazy("Other questions"),
    STEP_REVIEW: gettext_lazy("Check and send"),
}


@dataclass(frozen=True)
class Question:
    name: str
    instrument: str
    text: str
    options: tuple[tuple[str, str], ...]
    required: bool = True
    hint: str = ""
    # "choice": radio buttons; "number": a typed value (the coordinator's VAS from a paper line).
    kind: str = "choice"


@dataclass
class QuestionGroup:
    """Questions shown under one heading (e.g. all red flags under "Since your procedure...")."""

    instrument: str
    title: str
    intro: str = ""
    questions: list[Question] = field(default_factory=list)


def _vas(lang: str) -> QuestionGroup:
    vas = instrument_text("vas", lang)
    low, high = vas["anchors"]["min"]["text"], vas["anchors"]["max"]["text"]
    options = tuple((str(n), f"{n} – {low}" if n == 0 else f"{n} – {high}" if n == 10 else str(n)) for n in range(11))
    return QuestionGroup("vas", vas["title"], questions=[Question("vas", "vas", vas["question"], options)])


def _odi(lang: str, *, patient: bool) -> QuestionGroup:
    odi = instrument_text("odi", lang)
    questions = []
    for section in odi["sections"]:
        optional = section["code"] == ODI_OPTIONAL_SECTION
        options = tuple((str(o["value"]), o["text"]) for o in section["options"])
        if patient and optional:
            # A radio cannot be unticked: this is how a patient takes back an answer to skip it.
            options += (("", _("I prefer not to answer")),)
        questions.append(
            Question(
                name=ODI_PREFIX + section["code"],
                instrument="odi",
                text=section["title"],
                options=options,
                required=patient and not optional,
                hint=_("You may skip this section if you prefer not to answer it.") if optional else "",
            )
        )
    return QuestionGroup("odi", odi["title"], intro=odi["instructions"], questions=questions)


def _red_flags(lang: str, *, patient: bool) -> QuestionGroup:
    flags = instrument_text("red_flags", lang)
    options = ((YES, flags["answers"]["yes"]), (NO, flags["answers"]["no"]))
    return QuestionGroup(
        "red_flags",
        flags["title"],
        intro=flags["question"],
        questions=[
            Question(RED_FLAG_PREFIX + item["code"], "red_flags", item["text"], options, required=patient)
            for item in flags["items"]
        ],
    )


def _followup(lang: str, codes: list[str], *, patient: bool) -> QuestionGroup:
    data = instrument_text("followup_questions", lang)
    questions = [
        Question(
            q["code"],
            q["code"],
            q["text"],
            tuple((o["code"], o["text"]) for o in q["options"]),
            required=patient,
        )
        for q in data["questions"]
        if q["code"] in codes
    ]
    return QuestionGroup("followup_questions", data["title"], questions=questions)


def _karnofsky() -> QuestionGroup:
    options = tuple((str(v), str(v)) for v in range(KARNOFSKY_MAX, -1, -KARNOFSKY_STEP))
    question = Question("karnofsky", "karnofsky", _("Karnofsky performance status"), options, required=False)
    return QuestionGroup("karnofsky", _("Karnofsky performance status"), questions=[question])


def patient_steps(instruments: list[str], lang: str) -> dict[str, list[QuestionGroup]]:
    """The patient's steps for an event's instruments, in order, review last. Karnofsky is not asked."""
    steps: dict[str, list[QuestionGroup]] = {}
    if "vas" in instruments:
        steps[STEP_PAIN] = [_vas(lang)]
    if "odi" in instruments:
        steps[STEP_ODI] = [_odi(lang, patient=True)]
    other = []
    if "red_flags" in instruments:
        other.append(_red_flags(lang, patient=True))
    followup_codes = [code for code in FOLLOWUP_OPTION_CODES if code in instruments]
    if followup_codes:
        other.append(_followup(lang, followup_codes, patient=True))
    if other:
        steps[STEP_OTHER] = other
    steps[STEP_REVIEW] = []
    return steps


def coordinator_groups(instruments: list[str], lang: str) -> list[QuestionGroup]:
    """Every instrument of the event on one page; nothing is required (paper forms have gaps)."""
    groups = []
    if "vas" in instruments:
        vas = _vas(lang)
        asked = vas.questions[0]
        vas.questions = [
            Question(
                "vas",
                "vas",
                asked.text,
                asked.options,
                required=False,
                hint=_("0 to 10; one decimal allowed (e.g. 4.5)."),
                kind="number",
            )
        ]
        groups.append(vas)
    if "odi" in instruments:
        groups.append(_odi(lang, patient=False))
    if "karnofsky" in instruments:
        groups.append(_karnofsky())
    if "red_flags" in instruments:
        groups.append(_red_flags(lang, patient=False))
    followup_codes = [code for code in FOLLOWUP_OPTION_CODES if code in instruments]
    if followup_codes:
        groups.append(_followup(lang, followup_codes, patient=False))
    # Every choice can be set back to unanswered (a gap on the paper form, a slip of the mouse).
    for group in groups:
        group.questions = [
            replace(question, options=(*question.options, ("", _("Not answered"))))
            if question.kind == "choice"
            else question
            for question in group.questions
        ]
    return groups


def all_questions(groups: list[QuestionGroup]) -> list[Question]:
    return [question for group in groups for question in group.questions]


def answers_for_service(values: dict[str, str], questions: list[Question]) -> dict:
    """Raw form values (field name → option value) → the service's answer format.

    Only the questions asked are read; a blank answer is left out (never scored as 0).
    """
    answers: dict = {}
    for question in questions:
        value = values.get(question.name)
        if value in (None, ""):
            continue
        if question.name == "vas":
            # A string: scoring.vas_validate takes "7" or "4.5" (a coordinator copying a paper line).
            answers["vas"] = value
        elif question.name == "karnofsky":
            answers["karnofsky"] = int(value)
        elif question.name.startswith(ODI_PREFIX):
            answers.setdefault("odi", {})[question.name.removeprefix(ODI_PREFIX)] = int(value)
        elif question.name.startswith(RED_FLAG_PREFIX):
            answers.setdefault("red_flags", {})[question.name.removeprefix(RED_FLAG_PREFIX)] = value == YES
        else:
            answers[question.name] = value
    return answers


ANSWER_FIELD_NAMES = frozenset(
    ["vas", "karnofsky", *FOLLOWUP_OPTION_CODES]
    + [ODI_PREFIX + code for code in ODI_SECTIONS]
    + [RED_FLAG_PREFIX + code for code in RED_FLAG_CODES]
)
