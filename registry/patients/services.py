"""Every write to patients and consent (STYLE.md item 1).

Each service takes the acting user, runs in one transaction, validates with ``full_clean`` and is
audited through simple-history (``_history_user``). Stopping contact is announced after commit with
``patient_contact_stopped`` so that follow-up can cancel invitations without case capture
importing it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from registry import access
from registry.core.audit import acting_as, system_user
from registry.core.events import announce_on_commit, patient_consented, patient_contact_stopped
from registry.core.models import check_free_text
from registry.patients.models import ConsentEvent, ConsentStatus, Patient, Site

# Fields a coordinator may change through ``patient_update``; study id, site and consent are not
# among them (consent has its own services so that its history is complete).
PATIENT_EDITABLE_FIELDS = (
    "mrn",
    "given_name",
    "family_name",
    "date_of_birth",
    "sex",
    "email",
    "phone",
    "preferred_language",
    "anticoagulant_use",
    "antiplatelet_use",
    "coagulopathy",
    "copd",
    "sleep_apnoea",
    "heart_failure",
    "diabetes",
    "immunosuppression",
    "prior_spondylodiscitis",
    "prior_vertebral_augmentation",
    "cement_or_contrast_allergy",
    "last_dxa_on",
    "lowest_t_score",
    "osteoporosis_therapy",
    "calcium_vitamin_d",
    "primary_tumour",
    "lesion_type",
    "karnofsky",
    "asa_class",
)
CONSENT_FIELDS = ("consent_status", "consent_date", "consent_form_version")


def _clean_strings(data: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.strip() if isinstance(v, str) else v) for k, v in data.items()}


def study_id_format(site: Site, number: int) -> str:
    return f"{site.code}-{number:06d}"


def _allocate_study_id(site: Site) -> str:
    # The row lock serialises registrations at one site: two coordinators never share a number.
    locked = Site.objects.select_for_update().get(pk=site.pk)
    number = locked.next_study_number
    Site.objects.filter(pk=site.pk).update(next_study_number=number + 1)
    return study_id_format(locked, number)


@transaction.atomic
def patient_register(*, site: Site, acting_user, data: dict[str, Any]) -> Patient:
    """Register a patient; the study id is assigned here and never changes afterwards.

    ``data`` holds patient fields (see ``PATIENT_EDITABLE_FIELDS``) and optionally the consent
    fields; a consent decision other than *pending* also writes the first consent event.
    """
    access.require_data_entry(acting_user, site.pk)
    data = _clean_strings(data)
    unknown = set(data) - set(PATIENT_EDITABLE_FIELDS) - set(CONSENT_FIELDS)
    if unknown:
        raise ValueError(f"Not patient fields: {sorted(unknown)}")
    patient = Patient(site=site, **data)
    patient.full_clean(exclude=["study_id"])
    patient.study_id = _allocate_study_id(site)
    patient._history_user = acting_user
    patient.save()
    if patient.consent_status != ConsentStatus.PENDING:
        ConsentEvent.objects.create(
            patient=patient,
            status=patient.consent_status,
            effective_on=patient.consent_date or timezone.localdate(),
            form_version=patient.consent_form_version,
            note=_("Recorded at registration."),
            recorded_by=acting_user,
        )
    return patient


@transaction.atomic
def patient_update(*, patient: Patient, acting_user, data: dict[str, Any]) -> Patient:
    """Change demographics, risk factors, bone health or oncology; returns the saved patient."""
    access.require_data_entry(acting_user, patient.site_id)
    data = _clean_strings(data)
    not_editable = set(data) - set(PATIENT_EDITABLE_FIELDS)
    if not_editable:
        raise ValidationError(_("These fields cannot be changed here: %(f)s") % {"f": ", ".join(sorted(not_editable))})
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    for field, value in data.items():
        setattr(patient, field, value)
    patient.full_clean()
    patient._history_user = acting_user
    patient.save()
    return patient


@transaction.atomic
def consent_record(
    *,
    patient: Patient,
    acting_user,
    status: str,
    effective_on: dt.date,
    form_version: str = "",
    note: str = "",
) -> ConsentEvent:
    """Record a consent decision: appends to the history and updates the patient's status."""
    access.require_data_entry(acting_user, patient.site_id)
    if status not in ConsentStatus.values:
        raise ValidationError({"status": _("Unknown consent status.")})
    if effective_on is None:
        raise ValidationError({"effective_on": _("Give the date of the decision.")})
    note = check_free_text(note, field="note")
    if effective_on > timezone.localdate():
        raise ValidationError({"effective_on": _("This date is in the future.")})
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    if effective_on < patient.date_of_birth:
        raise ValidationError({"effective_on": _("This date is before the patient's birth.")})
    was_withdrawn = patient.consent_status == ConsentStatus.WITHDRAWN
    was_consented = patient.consent_status == ConsentStatus.CONSENTED
    patient.consent_status = status
    patient.consent_date = effective_on
    if form_version:
        patient.consent_form_version = form_version.strip()
    patient.full_clean()
    patient._history_user = acting_user
    patient.save()
    event = ConsentEvent.objects.create(
        patient=patient,
        status=status,
        effective_on=effective_on,
        form_version=form_version.strip(),
        note=note,
        recorded_by=acting_user,
    )
    if status == ConsentStatus.WITHDRAWN and not was_withdrawn:
        announce_on_commit(patient_contact_stopped, patient_id=patient.pk, reason="withdrawn")
    if status == ConsentStatus.CONSENTED and not was_consented:
        # Cases entered while consent was pending get their follow-up once it is given.
        announce_on_commit(patient_consented, patient_id=patient.pk)
    return event


def consent_withdraw(*, patient: Patient, acting_user, effective_on: dt.date, note: str = "") -> ConsentEvent:
    """Withdrawal stops all contact at once (announced on commit); collected data stays."""
    return consent_record(
        patient=patient,
        acting_user=acting_user,
        status=ConsentStatus.WITHDRAWN,
        effective_on=effective_on,
        note=note,
    )


@transaction.atomic
def patient_mark_deceased(*, patient: Patient, acting_user, deceased_on: dt.date) -> Patient:
    access.require_data_entry(acting_user, patient.site_id)
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    if deceased_on is None:
        raise ValidationError({"deceased_on": _("Give the date of death.")})
    last_procedure = patient.procedures.order_by("-performed_on").values_list("performed_on", flat=True).first()
    if last_procedure and deceased_on < last_procedure:
        raise ValidationError(
            {"deceased_on": _("The date of death is before the last procedure (%(d)s).") % {"d": last_procedure}}
        )
    was_alive = patient.deceased_on is None
    patient.deceased_on = deceased_on
    patient.full_clean()
    patient._history_user = acting_user
    patient.save()
    if was_alive:
        announce_on_commit(patient_contact_stopped, patient_id=patient.pk, reason="deceased")
    return patient


@transaction.atomic
def patient_opt_out(*, patient: Patient, acting_user=None) -> Patient:
    """The patient asked to stop emails (from a survey link: no logged-in user, so the system acts).

    Idempotent: a second click changes nothing and announces nothing.
    """
    actor = acting_user or system_user()
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    if patient.contact_opt_out:
        return patient
    patient.contact_opt_out = True
    patient.contact_opt_out_at = timezone.now()
    with acting_as(actor):
        patient._history_user = actor
        patient.save(update_fields=["contact_opt_out", "contact_opt_out_at", "updated_at"])
    announce_on_commit(patient_contact_stopped, patient_id=patient.pk, reason="opted_out")
    return patient
