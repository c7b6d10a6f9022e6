"""Reads of new fractures, re-treatment and adjudication on a user's behalf, site-scoped."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Case, Count, Max, Min, Prefetch, Q, QuerySet, Value, When

from registry import access
from registry.core.audit import field_changes
from registry.followup.models import SurveyResponse
from registry.fractures.models import FractureClass, FractureEvent, FractureLevel, Reintervention
from registry.patients.models import ConsentEvent, ConsentStatus, Patient
from registry.procedures.models import CementLeak, Complication, LeakLocation, Procedure, TreatedLevel


def patient_fractures(*, patient: Patient) -> QuerySet[FractureEvent]:
    """The patient page's list; the caller got ``patient`` through the access door."""
    return (
        FractureEvent.objects.filter(patient=patient)
        .select_related("signed_off_by", "recorded_by")
        .prefetch_related(Prefetch("levels", queryset=FractureLevel.objects.order_by("level")))
        .order_by("diagnosed_on", "id")
    )


def patient_reinterventions(*, patient: Patient) -> QuerySet[Reintervention]:
    return Reintervention.objects.filter(patient=patient).select_related("index_level__procedure", "procedure")


def patient_treated_levels(*, patient: Patient) -> QuerySet[TreatedLevel]:
    return (
        TreatedLevel.objects.filter(procedure__patient=patient)
        .select_related("procedure")
        .order_by("procedure__performed_on", "level")
    )


def patient_fracture_audit(*, patient: Patient) -> list[dict]:
    """Who changed which new-fracture or re-treatment record, when and how, newest first."""
    fracture_ids = list(FractureEvent.objects.filter(patient=patient).values_list("id", flat=True))
    records = [
        *FractureEvent.history.filter(patient_id=patient.pk).select_related("history_user"),
        *FractureLevel.history.filter(fracture_id__in=fracture_ids).select_related("history_user"),
        *Reintervention.history.filter(patient_id=patient.pk).select_related("history_user"),
    ]
    records.sort(key=lambda r: (r.history_date, r.history_id), reverse=True)
    return [
        {
            "at": record.history_date,
            "user": record.history_user,
            "what": f"{record.instance._meta.verbose_name} {record.instance}",
            "action": record.get_history_type_display(),
            "changes": field_changes(record) if record.history_type == "~" else [],
        }
        for record in records
    ]


def awaiting_adjudication(*, user) -> tuple[QuerySet[Complication], QuerySet[FractureEvent]]:
    """What the user may adjudicate and nobody has signed off yet, oldest first."""
    ids = access.adjudicator_site_ids(user)
    complications = Complication.objects.filter(signed_off_at__isnull=True).select_related(
        "patient", "procedure__site", "treated_level"
    )
    fractures = (
        FractureEvent.objects.filter(signed_off_at__isnull=True)
        .select_related("patient", "site")
        .prefetch_related("levels")
    )
    if ids is not None:
        complications = complications.filter(procedure__site_id__in=ids)
        fractures = fractures.filter(site_id__in=ids)
    return complications.order_by("onset_on", "id"), fractures.order_by("diagnosed_on", "id")


def complication_get_for_adjudicator(*, user, complication_id: int) -> Complication:
    ids = access.adjudicator_site_ids(user)
    queryset = Complication.objects.select_related("procedure__site", "patient")
    if ids is not None:
        queryset = queryset.filter(procedure__site_id__in=ids)
    return access.get_scoped_or_404(queryset, user, site_field="procedure__site", pk=complication_id)


def fracture_get_for_adjudicator(*, user, fracture_id: int) -> FractureEvent:
    ids = access.adjudicator_site_ids(user)
    queryset = FractureEvent.objects.select_related("patient", "site")
    if ids is not None:
        queryset = queryset.filter(site_id__in=ids)
    return access.get_scoped_or_404(queryset, user, pk=fracture_id)


# --- the survival cohort (aggregate reads; the caller decides the sites) --------------------


@dataclass(frozen=True)
class SurvivalSubject:
    """One patient from the index procedure: days to the end of observation and to each event."""

    site_id: int
    procedure_type: str
    disc_leak: bool
    observed_days: int
    fracture_days: int | None
    adjacent_fracture_days: int | None
    reintervention_days: int | None


def survival_subjects(*, procedure_q: Q, as_of: dt.date, site_ids: list[int] | None = None) -> list[SurvivalSubject]:
    """Every patient whose first procedure matches ``procedure_q``, followed to ``as_of``.

    Time zero is the index (first) procedure; observation ends at the last contact (last
    survey, recorded fracture or re-treatment), death or withdrawal, whichever is first. An event
    after the end of observation is not counted. A fixed number of set-based queries.
    """
    by_site = Q() if site_ids is None else Q(site_id__in=site_ids)
    first: dict[int, tuple] = {}
    rows = (
        Procedure.objects.filter(by_site, performed_on__lte=as_of)
        .annotate(
            in_cohort=Case(When(procedure_q, then=Value(True)), default=Value(False)) if procedure_q else Value(True)
        )
        .order_by("patient_id", "performed_on", "id")
        .values_list("patient_id", "id", "performed_on", "procedure_type", "site_id", "in_cohort")
    )
    for patient_id, procedure_id, performed_on, procedure_type, site_id, in_cohort in rows:
        first.setdefault(patient_id, (procedure_id, performed_on, procedure_type, site_id, in_cohort))
    first = {pid: row[:4] for pid, row in first.items() if row[4]}
    if not first:
        return []
    patient_q = Q() if site_ids is None else Q(patient__site_id__in=site_ids)
    leak_q = Q() if site_ids is None else Q(treated_level__procedure__site_id__in=site_ids)
    disc = set(
        CementLeak.objects.filter(leak_q, location__in=LeakLocation.intradiscal()).values_list(
            "treated_level__procedure_id", flat=True
        )
    )
    last_survey = dict(
        SurveyResponse.objects.filter(patient_q, collected_on__lte=as_of)
        .values("patient_id")
        .annotate(last=Max("collected_on"))
        .values_list("patient_id", "last")
    )
    fracture_first = dict(
        FractureEvent.objects.filter(patient_q, diagnosed_on__lte=as_of)
        .values("patient_id")
        .annotate(first=Min("diagnosed_on"))
        .values_list("patient_id", "first")
    )
    adjacent_first = dict(
        FractureLevel.objects.filter(
            Q() if site_ids is None else Q(fracture__site_id__in=site_ids),
            classification=FractureClass.ADJACENT,
            fracture__diagnosed_on__lte=as_of,
        )
        .values("fracture__patient_id")
        .annotate(first=Min("fracture__diagnosed_on"))
        .values_list("fracture__patient_id", "first")
    )
    retreated_first = dict(
        Reintervention.objects.filter(patient_q, performed_on__lte=as_of)
        .values("patient_id")
        .annotate(first=Min("performed_on"))
        .values_list("patient_id", "first")
    )
    withdrawn = dict(
        ConsentEvent.objects.filter(patient_q, status=ConsentStatus.WITHDRAWN)
        .values("patient_id")
        .annotate(first=Min("effective_on"))
        .values_list("patient_id", "first")
    )
    deaths = dict(
        Patient.objects.filter(
            Q() if site_ids is None else Q(site_id__in=site_ids), deceased_on__isnull=False
        ).values_list("id", "deceased_on")
    )
    subjects = []
    for patient_id, (procedure_id, start, procedure_type, site_id) in first.items():
        contacts = [d for d in (last_survey.get(patient_id), fracture_first.get(patient_id)) if d]
        contacts += [d for d in (retreated_first.get(patient_id),) if d]
        end = max([start, *contacts])
        for stop in (deaths.get(patient_id), withdrawn.get(patient_id), as_of):
            if stop is not None and stop < end:
                end = max(start, stop)

        def days(day: dt.date | None, start=start, end=end) -> int | None:
            return (day - start).days if day is not None and start < day <= end else None

        subjects.append(
            SurvivalSubject(
                site_id=site_id,
                procedure_type=procedure_type,
                disc_leak=procedure_id in disc,
                observed_days=(end - start).days,
                fracture_days=days(fracture_first.get(patient_id)),
                adjacent_fracture_days=days(adjacent_first.get(patient_id)),
                reintervention_days=days(retreated_first.get(patient_id)),
            )
        )
    return subjects


def adjudication_counts(*, site_ids: list[int] | None) -> dict[str, tuple[int, int]]:
    """(adjudicated, total) complications and new fractures, for the reports' statement."""
    complications = Complication.objects.all()
    fractures = FractureEvent.objects.all()
    if site_ids is not None:
        complications = complications.filter(procedure__site_id__in=site_ids)
        fractures = fractures.filter(site_id__in=site_ids)
    signed = Count("id", filter=Q(signed_off_at__isnull=False))
    c = complications.aggregate(done=signed, total=Count("id"))
    f = fractures.aggregate(done=signed, total=Count("id"))
    return {"complications": (c["done"], c["total"]), "fractures": (f["done"], f["total"])}
