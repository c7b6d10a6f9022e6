"""Every write of new fractures, re-treatment and adjudication (keyword-only, atomic, audited).

Each service checks its acting user through ``registry.access`` itself. Adjudication of
complications lives here with that of fractures: one place for the investigator's sign-off.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from registry import access
from registry.core.audit import acting_as, system_user
from registry.core.models import check_free_text
from registry.followup import clock, lifecycle
from registry.followup import services as followup_services
from registry.followup.models import SurveyResponse, WorklistItem, WorklistKind, WorklistStatus
from registry.fractures.classification import classify_levels
from registry.fractures.models import (
    FractureEvent,
    FractureLevel,
    ImagingModality,
    Reintervention,
    ReinterventionKind,
)
from registry.patients.models import Patient
from registry.procedures.models import (
    AdverseEventRelation,
    Complication,
    ComplicationType,
    Procedure,
    SirSeverity,
    TreatedLevel,
    VertebralLevel,
)

# A patient has at most 25 vertebrae in the registry's vocabulary.
MAX_LEVELS = len(VertebralLevel.values)


# --- the "new fracture: yes" screen --------------------------------------------------------


def fracture_screen_open(*, response_id: int) -> WorklistItem | None:
    """A response that answers "new fracture: yes" puts "confirm new fracture" on the worklist.

    Called after the response commits (any source: link, coordinator entry, API, import); safe to
    call again: a response already worked (item done or fracture recorded) opens nothing.
    """
    response = SurveyResponse.objects.select_related("patient__site").filter(pk=response_id).first()
    if response is None or response.new_fracture is not True:
        return None
    if FractureEvent.objects.filter(reported_in=response).exists():
        return None
    existing = WorklistItem.objects.filter(response=response, kind=WorklistKind.CONFIRM_FRACTURE).first()
    if existing is not None:
        return existing
    return lifecycle.open_worklist_item(
        kind=WorklistKind.CONFIRM_FRACTURE, patient=response.patient, due_on=response.collected_on, response=response
    )


# --- recording a new fracture --------------------------------------------------------------


def _clean_levels(levels: Sequence) -> list[int]:
    if not levels:
        raise ValidationError({"levels": "Give at least one fractured level."})
    if len(levels) > MAX_LEVELS:
        raise ValidationError({"levels": f"At most {MAX_LEVELS} levels."})
    cleaned = []
    for value in levels:
        try:
            level = int(value)
        except (TypeError, ValueError):
            raise ValidationError({"levels": f"{str(value)[:20]!r} is not a vertebral level."}) from None
        if level not in VertebralLevel.values:
            raise ValidationError({"levels": f"{level} is not a vertebral level."})
        cleaned.append(level)
    if len(set(cleaned)) != len(cleaned):
        raise ValidationError({"levels": "A level is given twice."})
    return sorted(cleaned)


def index_procedure_of(patient: Patient) -> Procedure | None:
    """The patient's first procedure: time zero of every new-fracture analysis."""
    return Procedure.objects.filter(patient=patient).order_by("performed_on", "id").first()


def treated_levels_before(patient: Patient, day: dt.date) -> list[int]:
    return list(
        TreatedLevel.objects.filter(procedure__patient=patient, procedure__performed_on__lt=day).values_list(
            "level", flat=True
        )
    )


@transaction.atomic
def fracture_record(
    *,
    patient: Patient,
    acting_user,
    levels: Sequence[int],
    diagnosed_on: dt.date,
    confirmed_by: str,
    symptomatic: bool,
    note: str = "",
    worklist_item: WorklistItem | None = None,
    now: dt.datetime | None = None,
) -> FractureEvent:
    """Record a confirmed new fracture; each level is classified from the levels treated before it.

    With ``worklist_item`` (a "confirm new fracture" item of this patient) the item closes and the
    fracture points to the survey response that reported it.
    """
    access.require_data_entry(acting_user, patient.site_id)
    errors: dict[str, str] = {}
    try:
        levels = _clean_levels(levels)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if confirmed_by not in ImagingModality.values:
        errors["confirmed_by"] = "Say how the fracture was confirmed (radiograph, MRI or CT)."
    try:
        note = check_free_text(note, field="note")
    except ValidationError as exc:
        errors.update(exc.message_dict)
    index = index_procedure_of(patient)
    today = clock.local_date(now or clock.now(), patient.site.time_zone)
    if index is None:
        errors["__all__"] = "This patient has no procedure: a new fracture follows an index procedure."
    elif diagnosed_on is None:
        errors["diagnosed_on"] = "Give the date of diagnosis."
    elif diagnosed_on <= index.performed_on:
        errors["diagnosed_on"] = f"A new fracture is diagnosed after the index procedure ({index.performed_on})."
    elif diagnosed_on > today:
        errors["diagnosed_on"] = "This date is in the future."
    if worklist_item is not None and (
        worklist_item.patient_id != patient.pk or worklist_item.kind != WorklistKind.CONFIRM_FRACTURE
    ):
        errors["__all__"] = "That worklist item is not this patient's new-fracture screen."
    if errors:
        raise ValidationError(errors)
    classes = classify_levels(levels, treated_levels_before(patient, diagnosed_on))
    with acting_as(acting_user):
        fracture = FractureEvent.objects.create(
            patient=patient,
            site_id=patient.site_id,
            index_procedure=index,
            diagnosed_on=diagnosed_on,
            confirmed_by=confirmed_by,
            symptomatic=bool(symptomatic),
            note=(note or "").strip(),
            recorded_by=acting_user,
            reported_in_id=worklist_item.response_id if worklist_item is not None else None,
        )
        for level, fracture_class in classes.items():
            FractureLevel.objects.create(fracture=fracture, level=level, classification=fracture_class)
    if worklist_item is not None and worklist_item.status == WorklistStatus.OPEN:
        followup_services.worklist_item_done(
            item=worklist_item, acting_user=acting_user, note="New fracture recorded.", now=now
        )
    return fracture


# --- re-augmentation and re-operation ------------------------------------------------------


def reaugmentations_detect(*, procedure_id: int) -> list[Reintervention]:
    """A later procedure on a level treated before is a re-augmentation of that index level.

    Runs when a procedure is recorded (a receiver), under the registry's system account; safe to
    run again (one row per index level and procedure).
    """
    procedure = Procedure.objects.select_related("patient").filter(pk=procedure_id).first()
    if procedure is None:
        return []
    new_levels = set(procedure.levels.values_list("level", flat=True))
    earlier = (
        TreatedLevel.objects.filter(
            procedure__patient_id=procedure.patient_id,
            procedure__performed_on__lt=procedure.performed_on,
            level__in=new_levels,
        )
        .select_related("procedure")
        .order_by("level", "-procedure__performed_on", "-id")
    )
    latest_by_level: dict[int, TreatedLevel] = {}
    for treated in earlier:
        latest_by_level.setdefault(treated.level, treated)
    created = []
    with transaction.atomic(), acting_as(system_user()) as robot:
        for level, index_level in latest_by_level.items():
            fracture = (
                FractureEvent.objects.filter(
                    patient_id=procedure.patient_id, diagnosed_on__lte=procedure.performed_on, levels__level=level
                )
                .order_by("-diagnosed_on")
                .first()
            )
            row, made = Reintervention.objects.get_or_create(
                index_level=index_level,
                procedure=procedure,
                defaults={
                    "patient_id": procedure.patient_id,
                    "site_id": procedure.site_id,
                    "kind": ReinterventionKind.REAUGMENTATION,
                    "performed_on": procedure.performed_on,
                    "fracture": fracture,
                    "recorded_by": robot,
                },
            )
            if made:
                created.append(row)
    return created


@transaction.atomic
def open_surgery_record(
    *,
    index_level: TreatedLevel,
    acting_user,
    performed_on: dt.date,
    fracture: FractureEvent | None = None,
    note: str = "",
    now: dt.datetime | None = None,
) -> Reintervention:
    """Open surgery for the same fracture of a treated level (not a registry procedure)."""
    procedure = index_level.procedure
    access.require_data_entry(acting_user, procedure.site_id)
    today = clock.local_date(now or clock.now(), procedure.site.time_zone)
    if performed_on is None or performed_on <= procedure.performed_on:
        raise ValidationError({"performed_on": f"Re-operation is after the procedure ({procedure.performed_on})."})
    if performed_on > today:
        raise ValidationError({"performed_on": "This date is in the future."})
    if fracture is not None and fracture.patient_id != procedure.patient_id:
        raise ValidationError({"fracture": "That fracture belongs to another patient."})
    note = check_free_text(note, field="note")
    with acting_as(acting_user):
        return Reintervention.objects.create(
            patient_id=procedure.patient_id,
            site_id=procedure.site_id,
            index_level=index_level,
            kind=ReinterventionKind.OPEN_SURGERY,
            performed_on=performed_on,
            fracture=fracture,
            note=(note or "").strip(),
            recorded_by=acting_user,
        )


# --- adjudication --------------------------------------------------------------------------


def _check_judgement(severity: str, relation: str) -> None:
    errors = {}
    if severity not in SirSeverity.values:
        errors["severity"] = "Choose the SIR severity."
    if relation not in AdverseEventRelation.values:
        errors["relation_to_procedure"] = "Say whether it is related to the procedure."
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def fracture_adjudicate(
    *, fracture: FractureEvent, acting_user, severity: str, relation: str, now: dt.datetime | None = None
) -> FractureEvent:
    """An investigator confirms the fracture (its classes are computed), its severity and relation."""
    access.require_adjudicator(acting_user, fracture.site_id)
    _check_judgement(severity, relation)
    fracture = FractureEvent.objects.select_for_update().get(pk=fracture.pk)
    with acting_as(acting_user):
        fracture.severity, fracture.relation_to_procedure = severity, relation
        fracture.signed_off_by, fracture.signed_off_at = acting_user, now or timezone.now()
        fracture.save()
    return fracture


@transaction.atomic
def complication_adjudicate(
    *,
    complication: Complication,
    acting_user,
    complication_type: str,
    severity: str,
    relation: str,
    now: dt.datetime | None = None,
) -> Complication:
    """An investigator confirms (or corrects) type and severity, judges the relation, signs off."""
    access.require_adjudicator(acting_user, complication.procedure.site_id)
    _check_judgement(severity, relation)
    if complication_type not in ComplicationType.values:
        raise ValidationError({"complication_type": "Choose the type of the complication."})
    complication = Complication.objects.select_for_update().get(pk=complication.pk)
    with acting_as(acting_user):
        complication.complication_type, complication.severity = complication_type, severity
        complication.relation_to_procedure = relation
        complication.signed_off_by, complication.signed_off_at = acting_user, now or timezone.now()
        complication.save()
    return complication
