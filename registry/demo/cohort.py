"""The one synthetic cohort generator: demo data, tests at scale and benchmarks.

``generate_cohort(sites=..., n_patients=...)`` creates patients (with consent events), procedures,
treated levels, cement leaks and complications whose distributions follow DATA_DICTIONARY.md
section 5: about 83 % vertebroplasty / 15 % kyphoplasty; levels per session about 2.2 (PVP) and
1.95 (PKP), centred on T12–L1; cement 2.0 ± 0.8 mL per level (body 26.1 ± 6.0 cc where CT
volumetry was done); a leak in about 38 % of PVP and 14 % of PKP patients, grouped vascular >
disc > posterior and mostly minor; symptomatic complications in about 1.5 % of patients. Sessions
are spread over the ~18 months before ``today``.

It writes with ``bulk_create`` in batches and bypasses the services: 100,000 patients load in a
few minutes. No history (audit) rows are written for this synthetic data, and no signals are sent:
it is not a clinical change anyone made. Every row still satisfies every model rule and database
constraint. The same ``seed``, ``today`` and starting study numbers give the same cohort.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Sequence
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from registry.core.audit import system_user
from registry.patients.models import ConsentEvent, ConsentStatus, Patient, PrimaryTumour, Site
from registry.procedures.models import (
    Anaesthesia,
    Approach,
    CementLeak,
    CementLot,
    CementProduct,
    Complication,
    ComplicationFoundAt,
    ComplicationOutcome,
    ComplicationType,
    FractureAge,
    Guidance,
    Indication,
    LeakDetection,
    LeakLocation,
    LeakSize,
    Management,
    MriOedema,
    Procedure,
    ProcedureType,
    SirSeverity,
    TreatedLevel,
    VertebralLevel,
    Viscosity,
    normalise_lot_number,
)

SPAN_DAYS = 548  # ~18 months of sessions

DEMO_PRODUCTS = (
    # manufacturer, brand, GTIN (valid check digits), default viscosity
    ("Acme Spine", "VertaFix HV", "05012345678900", Viscosity.HIGH),
    ("Acme Spine", "VertaFix MV", "05012345678917", Viscosity.MEDIUM),
    ("OsteoMed Iberia", "KyphoCem", "08412345000010", Viscosity.HIGH),
    ("Boston Bone", "PolyFill Low", "00312345000011", Viscosity.LOW),
)
LOTS_PER_PRODUCT = 12

PROCEDURE_TYPES = ((ProcedureType.PVP, 83), (ProcedureType.PKP, 15), (ProcedureType.OTHER, 2))
INDICATIONS = (
    (Indication.OSTEOPOROTIC, 70),
    (Indication.METASTASIS, 15),
    (Indication.MYELOMA, 7),
    (Indication.HAEMANGIOMA, 3),
    (Indication.TRAUMATIC, 3),
    (Indication.OTHER, 2),
)
# Levels per session: PVP mean 2.2, PKP 1.96 (004 Table 1: 2.26 and 1.95).
LEVEL_COUNTS = {
    ProcedureType.PVP: ((1, 35), (2, 30), (3, 20), (4, 10), (5, 5)),
    ProcedureType.PKP: ((1, 40), (2, 32), (3, 20), (4, 8)),
    ProcedureType.OTHER: ((1, 70), (2, 30)),
}
# Index level: 001 Table 1 (T8 2, T9 2, T11 3, T12 4, L1 12, L2 6, L3 4, L4 5, L5 3) with a few
# upper- and mid-thoracic levels that the 41-level sample happened not to contain.
INDEX_LEVELS = (
    (VertebralLevel.T5, 1),
    (VertebralLevel.T6, 1),
    (VertebralLevel.T7, 1),
    (VertebralLevel.T8, 2),
    (VertebralLevel.T9, 2),
    (VertebralLevel.T10, 2),
    (VertebralLevel.T11, 3),
    (VertebralLevel.T12, 4),
    (VertebralLevel.L1, 12),
    (VertebralLevel.L2, 6),
    (VertebralLevel.L3, 4),
    (VertebralLevel.L4, 5),
    (VertebralLevel.L5, 3),
)
# Per-patient probability of at least one leak (004 Table 1).
LEAK_RATE = {ProcedureType.PVP: 0.379, ProcedureType.PKP: 0.136, ProcedureType.OTHER: 0.25}
# 001: vascular 8, disc 5, posterior 2 (of 15); a few paravertebral/anterior.
LEAK_LOCATIONS = (
    (LeakLocation.VENOUS_BASIVERTEBRAL, 3),
    (LeakLocation.VENOUS_SEGMENTAL, 3),
    (LeakLocation.VENOUS_EPIDURAL_PLEXUS, 1.5),
    (LeakLocation.VENOUS_DISTANT, 0.5),
    (LeakLocation.DISC_SUPERIOR, 3),
    (LeakLocation.DISC_INFERIOR, 2),
    (LeakLocation.EPIDURAL, 1.2),
    (LeakLocation.FORAMINAL, 0.8),
    (LeakLocation.PARAVERTEBRAL, 1),
    (LeakLocation.ANTERIOR, 0.5),
)
LEAK_SIZES = ((LeakSize.MINOR, 12), (LeakSize.MODERATE, 1), (LeakSize.MASSIVE, 2))
LEAK_DETECTION = ((LeakDetection.FLUOROSCOPY, 5), (LeakDetection.RADIOGRAPH, 3), (LeakDetection.CT, 2))
# Symptomatic complications in 1.5 % of patients (004); asymptomatic findings (mostly PCE on CT)
# in another 2 %.
SYMPTOMATIC_COMPLICATION_RATE = 0.015
ASYMPTOMATIC_COMPLICATION_RATE = 0.02
SYMPTOMATIC_TYPES = (
    (ComplicationType.PCE, 4),
    (ComplicationType.RADICULOPATHY, 3),
    (ComplicationType.NEURITIS, 2),
    (ComplicationType.ADJACENT_FRACTURE, 4),
    (ComplicationType.PAIN_INCREASE, 3),
    (ComplicationType.LOCAL_HAEMATOMA, 1),
    (ComplicationType.WOUND_INFECTION, 0.5),
    (ComplicationType.RIB_FRACTURE, 0.5),
)
CONSENT = (
    (ConsentStatus.CONSENTED, 85),
    (ConsentStatus.PENDING, 7),
    (ConsentStatus.DECLINED, 4),
    (ConsentStatus.WITHDRAWN, 4),
)
GIVEN_NAMES = (
    "María", "Carmen", "Josefa", "Isabel", "Ana", "Dolores", "Pilar", "Teresa", "Rosa", "Lucía",
    "José", "Antonio", "Manuel", "Francisco", "Juan", "Mary", "Patricia", "Linda", "Barbara",
    "Elizabeth", "Margaret", "Dorothy", "Helen", "Robert", "John", "William", "Richard", "Joan",
)  # fmt: skip
FAMILY_NAMES = (
    "García", "Fernández", "González", "Rodríguez", "López", "Martínez", "Sánchez", "Pérez",
    "Gómez", "Martín", "Jiménez", "Ruiz", "Smith", "Johnson", "Williams", "Brown", "Jones",
    "Miller", "Davis", "Wilson", "Anderson", "Taylor", "Thomas", "Moore", "Murphy", "O'Brien",
)  # fmt: skip
OPERATORS = ("Dr Vega", "Dr Ortiz", "Dr Kim", "Dr Novak", "Dr Alvarez", "Dr Patel")


def _pick(rng: random.Random, weighted) -> object:
    values, weights = zip(*weighted, strict=True)
    return rng.choices(values, weights=weights)[0]


def _clip(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def demo_cement_catalogue(*, today: dt.date) -> list[CementLot]:
    """A small catalogue of kits with GTINs and lots valid over the cohort's span (idempotent)."""
    lots = []
    for manufacturer, brand, gtin, viscosity in DEMO_PRODUCTS:
        product, _ = CementProduct.objects.get_or_create(
            manufacturer=manufacturer, brand=brand, defaults={"gtin": gtin, "default_viscosity": viscosity}
        )
        for n in range(LOTS_PER_PRODUCT):
            number = f"{brand[:2].upper()}-{2024 + n // 6}{n:02d}{len(brand):02d}"
            lot, _ = CementLot.objects.get_or_create(
                product=product,
                lot_number_normalised=normalise_lot_number(number),
                defaults={"lot_number": number, "expires_on": today + dt.timedelta(days=365 + 30 * n)},
            )
            lots.append(lot)
    return lots


def _reserve_study_numbers(site: Site, count: int) -> int:
    locked = Site.objects.select_for_update().get(pk=site.pk)
    first = locked.next_study_number
    Site.objects.filter(pk=site.pk).update(next_study_number=first + count)
    return first


def generate_cohort(
    *,
    sites: Sequence[Site],
    n_patients: int,
    seed: int = 2024,
    today: dt.date | None = None,
    batch_size: int = 2000,
) -> dict[str, int]:
    """Create ``n_patients`` synthetic patients spread over ``sites``; returns counts per record type."""
    if not sites:
        raise ValueError("generate_cohort needs at least one site.")
    today = today or timezone.localdate()
    rng = random.Random(f"registry-cohort-{seed}")
    actor = system_user()
    lots = demo_cement_catalogue(today=today)
    counts: Counter[str] = Counter()
    for start in range(0, n_patients, batch_size):
        size = min(batch_size, n_patients - start)
        with transaction.atomic():
            _generate_batch(rng=rng, sites=list(sites), size=size, today=today, lots=lots, actor=actor, counts=counts)
    return {
        key: counts[key]
        for key in ("patients", "consent_events", "procedures", "treated_levels", "leaks", "complications")
    }


def _generate_batch(*, rng, sites, size, today, lots, actor, counts) -> None:
    site_of = [rng.choice(sites) for _ in range(size)]
    per_site = Counter(site.pk for site in site_of)
    next_number = {site.pk: _reserve_study_numbers(site, per_site[site.pk]) for site in sites if per_site[site.pk]}
    now = timezone.now()

    patients, plans = [], []
    for site in site_of:
        number = next_number[site.pk]
        next_number[site.pk] += 1
        plan = _plan_patient(rng, today)
        study_id = f"{site.code}-{number:06d}"
        consent = plan["consent"]
        patients.append(
            Patient(
                site=site,
                study_id=study_id,
                mrn=f"{site.code[:1]}{number:08d}",
                given_name=rng.choice(GIVEN_NAMES),
                family_name=rng.choice(FAMILY_NAMES),
                date_of_birth=plan["born"],
                sex=_pick(rng, (("female", 75), ("male", 24), ("unknown", 1))),
                email=f"{study_id.lower()}@example.test" if rng.random() < 0.7 else "",
                phone=f"+34 600 {number % 1000:03d} {rng.randrange(1000):03d}",
                preferred_language="es" if rng.random() < 0.4 else "en",
                consent_status=consent,
                consent_date=plan["first_on"] if consent != ConsentStatus.PENDING else None,
                consent_form_version="v2" if consent != ConsentStatus.PENDING else "",
                contact_opt_out=consent == ConsentStatus.CONSENTED and rng.random() < 0.02,
                deceased_on=plan["deceased_on"],
                anticoagulant_use=rng.random() < 0.12,
                antiplatelet_use=rng.random() < 0.18,
                copd=rng.random() < 0.1,
                heart_failure=rng.random() < 0.06,
                diabetes=rng.random() < 0.2,
                prior_vertebral_augmentation=rng.random() < 0.08,
                lowest_t_score=plan["t_score"],
                last_dxa_on=plan["dxa_on"],
                osteoporosis_therapy=_pick(
                    rng, (("none", 60), ("bisphosphonate", 25), ("denosumab", 10), ("other", 5))
                ),
                calcium_vitamin_d=rng.random() < 0.5,
                primary_tumour=plan["primary"],
                lesion_type=plan["lesion"],
                karnofsky=plan["karnofsky"],
                asa_class=rng.randint(1, 4) if plan["primary"] else None,
            )
        )
        plans.append(plan)
    for patient in patients:
        if patient.contact_opt_out:
            patient.contact_opt_out_at = now
    Patient.objects.bulk_create(patients, batch_size=1000)
    counts["patients"] += len(patients)

    consent_events = []
    for patient, plan in zip(patients, plans, strict=True):
        if patient.consent_status == ConsentStatus.PENDING:
            continue
        first = ConsentStatus.DECLINED if patient.consent_status == ConsentStatus.DECLINED else ConsentStatus.CONSENTED
        consent_events.append(
            ConsentEvent(
                patient=patient, status=first, effective_on=plan["first_on"], form_version="v2", recorded_by=actor
            )
        )
        if patient.consent_status == ConsentStatus.WITHDRAWN:
            consent_events.append(
                ConsentEvent(
                    patient=patient,
                    status=ConsentStatus.WITHDRAWN,
                    effective_on=plan["first_on"],
                    note="Synthetic withdrawal.",
                    recorded_by=actor,
                )
            )
    ConsentEvent.objects.bulk_create(consent_events, batch_size=2000)
    counts["consent_events"] += len(consent_events)

    procedures, procedure_plans = [], []
    for patient, plan in zip(patients, plans, strict=True):
        for session in plan["sessions"]:
            procedures.append(
                Procedure(
                    patient=patient,
                    site_id=patient.site_id,
                    performed_on=session["on"],
                    operator=rng.choice(OPERATORS),
                    setting="outpatient" if rng.random() < 0.6 else "inpatient",
                    procedure_type=session["type"],
                    indication=plan["indication"],
                    fracture_age_days=session["fracture_days"],
                    fracture_age=_fracture_age(session["fracture_days"]),
                    mri_oedema=_pick(rng, ((MriOedema.PRESENT, 80), (MriOedema.ABSENT, 5), (MriOedema.NOT_DONE, 15))),
                    anaesthesia=_pick(
                        rng,
                        (
                            (Anaesthesia.LOCAL, 30),
                            (Anaesthesia.LOCAL_SEDATION, 45),
                            (Anaesthesia.ESP_BLOCK, 5),
                            (Anaesthesia.GENERAL, 20 if session["type"] == ProcedureType.PKP else 5),
                        ),
                    ),
                    guidance=_pick(rng, ((Guidance.BIPLANE, 55), (Guidance.SINGLE_PLANE, 30), (Guidance.CT, 15))),
                    biopsy_taken=plan["primary"] != "" and rng.random() < 0.6,
                    fluoroscopy_seconds=int(_clip(rng.gauss(180 * len(session["levels"]), 90), 20, 7200)),
                    dose_area_product=Decimal(str(round(_clip(rng.gauss(12, 8), 0.5, 999), 2))),
                    risks_consented=True,
                    anticoagulation_reviewed=True,
                    allergy_screened=True,
                    baseline_neuro_documented=rng.random() < 0.95,
                    antibiotic_prophylaxis=rng.random() < 0.8,
                    baseline_karnofsky=plan["karnofsky"],
                    recorded_by=actor,
                )
            )
            procedure_plans.append(session)
    Procedure.objects.bulk_create(procedures, batch_size=1000)
    counts["procedures"] += len(procedures)

    levels, level_plans = [], []
    for procedure, session in zip(procedures, procedure_plans, strict=True):
        lot = rng.choice(lots)
        kyphoplasty = procedure.procedure_type == ProcedureType.PKP
        for ordinal, level_plan in zip(session["levels"], session["level_plans"], strict=True):
            volume = _clip(rng.gauss(2.6 if kyphoplasty else 2.0, 0.8), 0.5, 6.5)
            body = _clip(rng.gauss(26.1, 6.0), 12, 45) if rng.random() < 0.5 else None
            levels.append(
                TreatedLevel(
                    procedure=procedure,
                    level=ordinal,
                    approach=Approach.BIPEDICULAR if rng.random() < 0.55 else Approach.UNIPEDICULAR,
                    needle_gauge=rng.choice((10, 11, 11, 13)),
                    cement_lot=lot,
                    viscosity=lot.product.default_viscosity,
                    cement_volume_ml=Decimal(str(round(volume, 1))),
                    vertebral_body_volume_cc=Decimal(str(round(body, 1))) if body else None,
                    height_loss_percent=int(_clip(rng.gauss(30, 15), 0, 90)),
                    posterior_wall_intact=rng.random() < 0.9,
                    intravertebral_cleft=rng.random() < 0.15,
                    balloon_inflated=True if kyphoplasty else None,
                )
            )
            level_plans.append(level_plan)
    TreatedLevel.objects.bulk_create(levels, batch_size=2000)
    counts["treated_levels"] += len(levels)

    complications, leaks, leak_links = [], [], []
    for level, level_plan in zip(levels, level_plans, strict=True):
        procedure = level.procedure
        for leak_plan in level_plan["leaks"]:
            leak = CementLeak(
                treated_level=level,
                location=leak_plan["location"],
                size_grade=_pick(rng, LEAK_SIZES),
                detected_by=_pick(rng, LEAK_DETECTION),
                symptomatic=leak_plan["symptomatic"],
            )
            leaks.append(leak)
            if leak.symptomatic:
                complication = _complication(rng, procedure, level, ComplicationType.PCE, today, symptomatic=True)
                complications.append(complication)
                leak_links.append((leak, complication))
        if level_plan.get("complication"):
            complications.append(
                _complication(
                    rng, procedure, level, level_plan["complication"], today, symptomatic=level_plan["symptomatic"]
                )
            )
    Complication.objects.bulk_create(complications, batch_size=2000)
    for leak, complication in leak_links:
        leak.complication = complication
    CementLeak.objects.bulk_create(leaks, batch_size=2000)
    counts["complications"] += len(complications)
    counts["leaks"] += len(leaks)


def _fracture_age(days: int | None) -> str:
    if days is None:
        return ""
    if days < 42:
        return FractureAge.ACUTE
    return FractureAge.SUBACUTE if days <= 90 else FractureAge.CHRONIC


def _plan_patient(rng: random.Random, today: dt.date) -> dict:
    indication = _pick(rng, INDICATIONS)
    neoplastic = indication in Indication.neoplastic()
    first_on = today - dt.timedelta(days=rng.randrange(SPAN_DAYS))
    age = int(_clip(rng.gauss(64 if neoplastic else 76, 9), 40 if neoplastic else 50, 98))
    born = first_on - dt.timedelta(days=age * 365 + 100 + rng.randrange(250))
    kinds = LEVEL_COUNTS
    sessions = []
    session_type = _pick(rng, PROCEDURE_TYPES)
    dates = [first_on]
    # About 8 % come back for a new fracture within the span.
    second = first_on + dt.timedelta(days=rng.randint(30, 300))
    if rng.random() < 0.08 and second <= today:
        dates.append(second)
    leak_patient = rng.random() < LEAK_RATE[session_type]
    symptomatic_patient = rng.random() < SYMPTOMATIC_COMPLICATION_RATE
    asymptomatic_patient = rng.random() < ASYMPTOMATIC_COMPLICATION_RATE
    for n, on in enumerate(dates):
        count = _pick(rng, kinds[session_type])
        index = int(_pick(rng, INDEX_LEVELS))
        chosen = [index]
        while len(chosen) < count:
            step = rng.choice((-1, 1, 1, 2, -2))
            candidate = _clip(rng.choice(chosen) + step, VertebralLevel.T4, VertebralLevel.L5)
            if candidate not in chosen:
                chosen.append(int(candidate))
        chosen.sort()
        level_plans = [{"leaks": []} for _ in chosen]
        if n == 0 and leak_patient:
            leaking = rng.sample(range(len(chosen)), k=min(len(chosen), 1 if rng.random() < 0.8 else 2))
            for i in leaking:
                for _ in range(1 if rng.random() < 0.85 else 2):
                    location = _pick(rng, LEAK_LOCATIONS)
                    # A symptomatic complication may come from a venous leak: a pulmonary embolism.
                    symptomatic = symptomatic_patient and location.startswith("venous_") and rng.random() < 0.5
                    if symptomatic:
                        symptomatic_patient = False
                    level_plans[i]["leaks"].append({"location": location, "symptomatic": symptomatic})
        if n == 0 and (symptomatic_patient or asymptomatic_patient):
            target = rng.randrange(len(chosen))
            level_plans[target]["complication"] = (
                _pick(rng, SYMPTOMATIC_TYPES) if symptomatic_patient else ComplicationType.PCE
            )
            level_plans[target]["symptomatic"] = symptomatic_patient
        fracture_days = rng.choice((None, rng.randint(3, 200)))
        sessions.append(
            {
                "on": on,
                "type": session_type,
                "levels": chosen,
                "level_plans": level_plans,
                "fracture_days": fracture_days,
            }
        )
    primary = ""
    if indication == Indication.MYELOMA:
        primary = PrimaryTumour.MYELOMA
    elif indication == Indication.METASTASIS:
        primary = _pick(
            rng,
            (
                (PrimaryTumour.BREAST, 30),
                (PrimaryTumour.LUNG, 25),
                (PrimaryTumour.PROSTATE, 15),
                (PrimaryTumour.KIDNEY, 10),
                (PrimaryTumour.COLORECTAL, 5),
                (PrimaryTumour.OTHER, 10),
                (PrimaryTumour.UNKNOWN, 5),
            ),
        )
    last_on = dates[-1]
    deceased_on = None
    if neoplastic and rng.random() < 0.2:
        candidate = last_on + dt.timedelta(days=rng.randint(20, 400))
        deceased_on = candidate if candidate <= today else None
    has_dxa = rng.random() < 0.5
    return {
        "indication": indication,
        "born": born,
        "first_on": first_on,
        "sessions": sessions,
        "consent": _pick(rng, CONSENT),
        "deceased_on": deceased_on,
        "primary": primary,
        "lesion": _pick(rng, (("osteolytic", 70), ("osteoblastic", 15), ("mixed", 15))) if primary else "",
        "karnofsky": rng.choice((50, 60, 60, 70, 70, 80)) if neoplastic else rng.choice((None, 60, 70, 80)),
        "t_score": Decimal(str(round(_clip(rng.gauss(-2.8, 0.9), -6.5, 1.0), 1))) if has_dxa else None,
        "dxa_on": first_on - dt.timedelta(days=rng.randint(10, 1500)) if has_dxa else None,
    }


def _complication(rng, procedure, level, complication_type, today, *, symptomatic: bool) -> Complication:
    during = complication_type in (ComplicationType.PCE, ComplicationType.NEURITIS, ComplicationType.LOCAL_HAEMATOMA)
    onset = procedure.performed_on + dt.timedelta(days=0 if during else rng.randint(1, 120))
    onset = min(onset, today)
    resolved = rng.random() < 0.7
    resolved_on = min(onset + dt.timedelta(days=rng.randint(1, 60)), today) if resolved else None
    if symptomatic:
        severity = _pick(
            rng,
            (
                (SirSeverity.MILD, 35),
                (SirSeverity.MODERATE, 45),
                (SirSeverity.SEVERE, 15),
                (SirSeverity.LIFE_THREATENING, 5),
            ),
        )
    else:
        severity = SirSeverity.MILD
    return Complication(
        patient_id=procedure.patient_id,
        procedure=procedure,
        treated_level=level,
        onset_on=onset,
        found_at=ComplicationFoundAt.DURING if during else ComplicationFoundAt.FOLLOW_UP_VISIT,
        complication_type=complication_type,
        severity=severity,
        symptomatic=symptomatic,
        management=Management.OBSERVATION
        if not symptomatic
        else _pick(rng, ((Management.MEDICATION, 60), (Management.ANTICOAGULATION, 20), (Management.OBSERVATION, 20))),
        outcome=ComplicationOutcome.RESOLVED if resolved else ComplicationOutcome.ONGOING,
        resolved_on=resolved_on,
    )
