"""A small fixture cohort whose every figure the report tests recompute by hand.

``CASES`` is the single description: the builder turns it into rows with the factories, the
tests compute expected figures from the same lists with plain Python. Site A (TOL) has ten
procedures, nine of them in 2026 Q1 and one (A7) in 2025 Q4; site B (BOS) has two.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils import timezone

from registry.followup.models import FollowUpEvent, FollowUpProtocol, ProtocolEvent, SurveyResponse
from registry.patients.models import BoneHealthAction, Patient
from registry.procedures.models import VertebralLevel
from tests.factories import (
    CementLeakFactory,
    CementLotFactory,
    CementProductFactory,
    ComplicationFactory,
    PatientFactory,
    ProcedureFactory,
    TreatedLevelFactory,
)
from tests.utils import history_rewritable

# The dashboard tests look at the cohort on this day: every early and 3-month window has closed.
AS_OF = dt.date(2026, 11, 21)
WINDOWS = {"baseline": (-30, None, 0), "early": (14, 14, 42), "m3": (76, 83, 120), "m12": (335, 350, 395)}


@dataclass
class Level:
    level: str
    volume: str
    body: str | None = None
    leaks: list[tuple[str, str, str]] = field(default_factory=list)  # location, pathway, size


@dataclass
class Case:
    key: str
    site: str
    kind: str
    indication: str
    performed_on: dt.date
    levels: list[Level]
    surveys: dict[str, tuple[float | None, float | None]]
    events: dict[str, str] = field(default_factory=dict)  # event code -> status
    complications: list[tuple[str, str, bool]] = field(default_factory=list)  # type, severity, symptomatic
    bone: list[tuple[str, str, dt.date, dt.date | None]] = field(default_factory=list)  # kind, status, due, done
    therapy_taken: dict[str, bool | None] = field(default_factory=dict)
    born: dt.date = dt.date(1945, 3, 14)
    sex: str = "female"
    deceased_on: dt.date | None = None
    consent: str = "consented"


D = dt.date
CASES = [
    Case(
        "A1", "A", "PVP", "osteoporotic", D(2026, 1, 10),
        [Level("L1", "2.0", "25.0", [("disc_superior", "B", "minor")]), Level("L2", "3.0", "30.0")],
        {"baseline": (8.0, 60.0), "early": (4.0, 40.0), "m3": (3.0, 30.0)},
        {"early": "completed", "m3": "completed"},
        [("fracture_adjacent", "mild", True)],
        [("dxa", "done", D(2026, 2, 10), D(2026, 2, 1)), ("osteoporosis_therapy", "done", D(2026, 3, 10), D(2026, 3, 20))],
        {"m3": True},
    ),
    Case(
        "A2", "A", "PVP", "metastasis", D(2026, 1, 20),
        [Level("T12", "1.5")],
        {"baseline": (7.0, 70.0), "m3": (6.0, 64.0)},
        {"early": "missed", "m3": "completed"},
        [("embolism_pulmonary", "moderate", False)],
        sex="male",
    ),
    Case(
        "A3", "A", "PKP", "osteoporotic", D(2026, 2, 3),
        [Level("L1", "4.0", "20.0", [("venous_segmental", "S", "moderate"), ("paravertebral", "", "")])],
        {"baseline": (9.0, 80.0), "m3": (2.0, 20.0)},
        {"early": "missed", "m3": "completed"},
        [("infection_wound", "severe", True)],
        [("dxa", "done", D(2026, 3, 5), D(2026, 3, 15)), ("osteoporosis_therapy", "due", D(2026, 4, 3), None)],
        {"m3": False},
    ),
    Case(
        "A4", "A", "PKP", "osteoporotic", D(2026, 2, 15),
        [Level("L3", "2.5")],
        {"baseline": (6.0, 50.0)},
        {"early": "missed", "m3": "missed", "m12": "superseded"},
        bone=[("dxa", "declined", D(2026, 3, 15), None), ("osteoporosis_therapy", "not_applicable", D(2026, 3, 15), None)],
    ),
    Case(
        "A5", "A", "OTHER", "haemangioma", D(2026, 3, 1),
        [Level("T8", "1.0")],
        {"baseline": (5.0, 44.0), "early": (4.0, 40.0)},
        {"early": "completed", "m3": "missed"},
        born=D(1930, 6, 1),
    ),
    Case(
        "A6", "A", "PVP", "osteoporotic", D(2026, 3, 10),
        [Level("L4", "2.2", "26.0")],
        {"baseline": (7.5, 66.0)},
        {"early": "cancelled:deceased", "m3": "cancelled:deceased"},
        bone=[("dxa", "due", D(2026, 12, 31), None)],
        deceased_on=D(2026, 4, 1),
    ),
    Case(
        "A7", "A", "PVP", "osteoporotic", D(2025, 11, 5),
        [Level("L1", "2.4", "24.0", [("epidural", "C", "massive")]), Level("T12", "1.8")],
        {"baseline": (8.0, 72.0), "early": (5.0, 50.0), "m3": (4.0, 46.0)},
        {"early": "completed", "m3": "completed", "m12": "scheduled"},
        therapy_taken={"m3": True},
        sex="male",
    ),
    Case(
        "A8", "A", "PVP", "osteoporotic", D(2026, 1, 5),
        [Level("L2", "2.0", leaks=[("venous_basivertebral", "B", "minor")])],
        {"baseline": (6.5, 58.0), "early": (3.0, 30.0), "m3": (3.0, 28.0)},
        {"early": "completed", "m3": "completed"},
        [("neuro_radiculopathy", "moderate", True)],
        [("dxa", "done", D(2026, 2, 5), D(2026, 2, 5))],
        {"m3": None},
    ),
    Case(
        "A9", "A", "PVP", "myeloma", D(2026, 2, 20),
        [Level("T10", "1.6"), Level("T11", "2.6", leaks=[("disc_inferior", "", "minor")])],
        {"baseline": (8.5, 76.0), "early": (8.0, 72.0)},
        {"early": "completed", "m3": "missed"},
        [("fracture_adjacent", "severe", True)],
    ),
    Case(
        "A10", "A", "PVP", "osteoporotic", D(2026, 3, 20),
        [Level("L1", "1.9")],
        {"baseline": (7.0, 62.0)},
        {"early": "cancelled:withdrawn", "m3": "cancelled:withdrawn"},
        consent="withdrawn",
    ),
    Case(
        "B1", "B", "PVP", "osteoporotic", D(2026, 1, 15),
        [Level("L1", "2.1", leaks=[("venous_segmental", "", "minor")])],
        {"baseline": (7.0, 60.0)},
    ),
    Case(
        "B2", "B", "PKP", "osteoporotic", D(2026, 2, 1),
        [Level("L2", "3.1")],
        {"baseline": (6.0, 52.0)},
    ),
]  # fmt: skip

# When each survey was collected: days after the procedure (baseline the day before).
COLLECTED_DAY = {"baseline": -1, "early": 20, "m3": 90, "m12": 360}


def cases(site: str | None = None, *, performed_from: dt.date | None = None, performed_to: dt.date | None = None):
    return [
        case
        for case in CASES
        if (site is None or case.site == site)
        and (performed_from is None or case.performed_on >= performed_from)
        and (performed_to is None or case.performed_on <= performed_to)
    ]


def protocol_events() -> dict[str, ProtocolEvent]:
    # Transactional tests flush the data migration's protocol: make sure it is there.
    protocol, _ = FollowUpProtocol.objects.get_or_create(name="Registry default (002 section 5)")
    events = {}
    for order, (code, (start, invite, end)) in enumerate(WINDOWS.items()):
        events[code], _ = ProtocolEvent.objects.get_or_create(
            protocol=protocol,
            code=code,
            defaults={
                "label": code,
                "order": order,
                "window_start_day": start,
                "invite_day": invite,
                "window_end_day": end,
            },
        )
    return events


def _moment(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(12)))


def build_cohort(site_a, site_b) -> dict[str, object]:
    """Rows for ``CASES``; returns {case key: procedure}."""
    sites = {"A": site_a, "B": site_b}
    lots = {
        "A": CementLotFactory(product=CementProductFactory(brand="VertaFix HV"), lot_number="HV-001"),
        "B": CementLotFactory(product=CementProductFactory(brand="KyphoCem"), lot_number="KC-777"),
    }
    events_of = protocol_events()
    procedures = {}
    for case in CASES:
        patient = PatientFactory(
            site=sites[case.site],
            # Names that cannot occur by chance in a report or an export.
            given_name=f"Givenname{case.key}",
            family_name=f"Familyname{case.key}",
            date_of_birth=case.born,
            sex=case.sex,
            deceased_on=case.deceased_on,
            consent_status=case.consent,
        )
        procedure = ProcedureFactory(
            patient=patient,
            performed_on=case.performed_on,
            procedure_type=case.kind,
            indication=case.indication,
            fluoroscopy_seconds=300 if case.key in ("A1", "A2", "A3") else None,
        )
        procedures[case.key] = procedure
        lot = lots["B" if case.kind == "PKP" else "A"]
        for spec in case.levels:
            level = TreatedLevelFactory(
                procedure=procedure,
                level=VertebralLevel[spec.level],
                cement_lot=lot,
                cement_volume_ml=Decimal(spec.volume),
                vertebral_body_volume_cc=Decimal(spec.body) if spec.body else None,
            )
            for location, pathway, size in spec.leaks:
                CementLeakFactory(treated_level=level, location=location, pathway=pathway, size_grade=size)
        for kind, severity, symptomatic in case.complications:
            ComplicationFactory(procedure=procedure, complication_type=kind, severity=severity, symptomatic=symptomatic)
        # Every row carries the time it would have been recorded, as if entered as things happened
        # (reports show what was known on their date): the patient the day before the procedure,
        # an answer on the day it was collected, a missed window the day after it closed.
        with history_rewritable():
            Patient.history.filter(id=patient.id).update(history_date=_moment(case.performed_on - dt.timedelta(days=1)))
        for code, status in case.events.items():
            start, invite, end = WINDOWS[code]
            status, _, cause = status.partition(":")
            changed_on = {
                "completed": case.performed_on + dt.timedelta(days=COLLECTED_DAY[code]),
                "missed": case.performed_on + dt.timedelta(days=end + 1),
                "cancelled": case.deceased_on or case.performed_on + dt.timedelta(days=1),
            }.get(status, case.performed_on)
            FollowUpEvent.objects.create(
                procedure=procedure,
                patient=patient,
                site=patient.site,
                protocol_event=events_of[code],
                event_code=code,
                window_opens_on=case.performed_on + dt.timedelta(days=start),
                invite_on=case.performed_on + dt.timedelta(days=invite) if invite is not None else None,
                window_closes_on=case.performed_on + dt.timedelta(days=end),
                status=status,
                status_changed_at=_moment(changed_on),
                cancel_cause=cause,
            )
        for code, (vas, odi) in case.surveys.items():
            SurveyResponse.objects.create(
                patient=patient,
                procedure=procedure,
                event_code=code,
                source="clinic",
                collected_on=case.performed_on + dt.timedelta(days=COLLECTED_DAY[code]),
                vas=Decimal(str(vas)) if vas is not None else None,
                odi_percent=Decimal(str(odi)) if odi is not None else None,
                osteoporosis_therapy_taken=case.therapy_taken.get(code),
                submitted_at=_moment(case.performed_on + dt.timedelta(days=COLLECTED_DAY[code])),
            )
        for kind, status, due_on, done_on in case.bone:
            BoneHealthAction.objects.create(
                patient=patient, procedure=procedure, kind=kind, status=status, due_on=due_on, done_on=done_on
            )
    return procedures
