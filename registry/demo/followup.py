"""Follow-up for the demo cohort: planned events and the answers a real registry would hold.

``generate_cohort`` bulk-writes cases without announcing them, so nothing is planned. For the demo
every procedure is planned through the follow-up service (windows already closed become
``missed``), and most closed time points then get the answers a coordinator would have entered
by phone or paper, through the same service and scoring as every other response. Values follow
the literature trajectories of DATA_DICTIONARY.md section 5 (VAS ~7.3 at baseline falling to ~3,
ODI ~70 % falling to ~30 %). Open windows stay open, so the running worker invites and reminds.
Slow by design (a service call per answer): meant for demo sizes, not benchmarks.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from django.utils import timezone

from registry.followup import scoring
from registry.followup.models import EventStatus, FollowUpEvent, ResponseSource
from registry.followup.services import followup_schedule_procedure, survey_response_record
from registry.procedures.models import Procedure

# (mean VAS, mean ODI %, share answered) per time point.
TRAJECTORY = {
    "baseline": (7.3, 70.0, 0.92),
    "early": (3.0, 33.0, 0.82),
    "m3": (2.8, 32.0, 0.76),
    "m12": (2.9, 30.0, 0.70),
}


def _clip(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def _answers(rng: random.Random, event_code: str) -> dict:
    vas_mean, odi_mean, _ = TRAJECTORY[event_code]
    odi_target = _clip(rng.gauss(odi_mean, 14), 0, 100)
    odi = {section: int(_clip(round(rng.gauss(odi_target / 20, 0.8)), 0, 5)) for section in scoring.ODI_SECTIONS}
    if rng.random() < 0.4:
        odi["sex_life"] = None  # the section most often skipped
    answers = {"vas": Decimal(str(round(_clip(rng.gauss(vas_mean, 1.6), 0, 10), 1))), "odi": odi}
    if event_code == "early":
        # About one patient in forty reports a warning sign; it lands on the demo worklist.
        flagged = rng.choice(scoring.RED_FLAG_CODES) if rng.random() < 0.025 else None
        answers["red_flags"] = {code: code == flagged for code in scoring.RED_FLAG_CODES}
        answers["analgesic_use"] = rng.choice(("none", "non_opioid", "non_opioid", "opioid"))
    elif event_code in ("m3", "m12"):
        answers["new_fracture"] = "yes" if rng.random() < 0.08 else "no"
        answers["osteoporosis_therapy"] = rng.choice(("yes", "yes", "no", "not_prescribed"))
    return answers


def simulate_followup(*, seed: int = 2026, today: dt.date | None = None) -> dict[str, int]:
    """Plan every procedure's follow-up and answer most closed time points; returns counts."""
    rng = random.Random(f"registry-demo-followup-{seed}")
    today = today or timezone.localdate()
    counts = {"procedures_planned": 0, "responses": 0}
    for procedure_id in Procedure.objects.order_by("id").values_list("id", flat=True):
        followup_schedule_procedure(procedure_id=procedure_id)
        counts["procedures_planned"] += 1
    closed = (
        FollowUpEvent.objects.filter(status=EventStatus.MISSED, window_closes_on__lt=today)
        .select_related("patient__site", "procedure")
        .order_by("id")
    )
    for event in closed:
        if event.event_code not in TRAJECTORY or rng.random() > TRAJECTORY[event.event_code][2]:
            continue
        span = (min(event.window_closes_on, today) - event.window_opens_on).days
        survey_response_record(
            patient=event.patient,
            event=event,
            source=rng.choice((ResponseSource.PHONE, ResponseSource.PAPER)),
            answers=_answers(rng, event.event_code),
            language=event.patient.preferred_language,
            collected_on=event.window_opens_on + dt.timedelta(days=rng.randint(0, max(span, 0))),
        )
        counts["responses"] += 1
    return counts
