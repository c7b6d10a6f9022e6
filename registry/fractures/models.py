"""New fractures after the index procedure and re-treatment of treated levels (DATA_DICTIONARY.md §6).

A fracture event holds one or more new levels; each level's class (adjacent, remote, index-level)
is computed by ``classification.py`` from the levels treated before the diagnosis and stored, never
typed. A re-augmentation (a later procedure on a treated level) or open surgery for the same
fracture is a ``Reintervention`` linked to the index level, and for a re-augmentation to the new
procedure.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from registry.core.audit import audited
from registry.core.models import TimeStampedModel, bounded_text, bounded_text_constraint
from registry.patients.models import validate_not_future
from registry.procedures.models import (
    THORACOLUMBAR_JUNCTION,
    Adjudicated,
    SirSeverity,
    VertebralLevel,
)


class ImagingModality(models.TextChoices):
    RADIOGRAPH = "radiograph", _("Radiograph")
    MRI = "mri", _("MRI")
    CT = "ct", _("CT")


class FractureClass(models.TextChoices):
    ADJACENT = "adjacent", _("Adjacent level")
    REMOTE = "remote", _("Remote level")
    INDEX = "index", _("Index-level refracture / collapse")


class ReinterventionKind(models.TextChoices):
    REAUGMENTATION = "reaugmentation", _("Re-augmentation of the same level")
    OPEN_SURGERY = "open_surgery", _("Open surgery for the same fracture")


class FractureEvent(TimeStampedModel, Adjudicated):
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="fracture_events")
    # Denormalised from the patient so that site scoping and reports need no join.
    site = models.ForeignKey("patients.Site", on_delete=models.PROTECT, related_name="fracture_events")
    # The patient's first procedure: time zero of the survival analyses.
    index_procedure = models.ForeignKey("procedures.Procedure", on_delete=models.PROTECT, related_name="+")
    diagnosed_on = models.DateField(_("date of diagnosis"), validators=[validate_not_future])
    confirmed_by = models.CharField(_("confirmed by"), max_length=12, choices=ImagingModality.choices)
    symptomatic = models.BooleanField()
    reported_in = models.ForeignKey(
        "followup.SurveyResponse", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    note = bounded_text(blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # Adjudication by an investigator of the site: severity, relation, name and time.
    severity = models.CharField(_("SIR severity"), max_length=20, choices=SirSeverity.choices, blank=True)

    history = audited()

    class Meta:
        ordering = ["diagnosed_on", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(signed_off_at__isnull=True)
                | (Q(signed_off_by__isnull=False) & ~Q(severity="") & ~Q(relation_to_procedure="")),
                name="fracture_signed_off_complete",
            ),
            bounded_text_constraint("note", name="fracture_note_length"),
        ]
        indexes = [models.Index(fields=["site", "diagnosed_on"])]

    def __str__(self) -> str:
        return f"New fracture diagnosed {self.diagnosed_on}"

    @property
    def adjudicated(self) -> bool:
        return self.signed_off_at is not None


class FractureLevel(TimeStampedModel):
    fracture = models.ForeignKey(FractureEvent, on_delete=models.CASCADE, related_name="levels")
    level = models.PositiveSmallIntegerField(choices=VertebralLevel.choices)
    classification = models.CharField(max_length=10, choices=FractureClass.choices, editable=False)

    history = audited()

    class Meta:
        ordering = ["fracture", "level"]
        constraints = [
            models.UniqueConstraint(fields=["fracture", "level"], name="fracture_level_once"),
            models.CheckConstraint(condition=Q(level__gte=1, level__lte=25), name="fracture_level_known"),
        ]

    def __str__(self) -> str:
        return f"{self.get_level_display()} ({self.get_classification_display()})"

    @property
    def at_thoracolumbar_junction(self) -> bool:
        return self.level in THORACOLUMBAR_JUNCTION


class Reintervention(TimeStampedModel):
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="reinterventions")
    site = models.ForeignKey("patients.Site", on_delete=models.PROTECT, related_name="+")
    index_level = models.ForeignKey("procedures.TreatedLevel", on_delete=models.PROTECT, related_name="reinterventions")
    kind = models.CharField(max_length=16, choices=ReinterventionKind.choices)
    performed_on = models.DateField(validators=[validate_not_future])
    # The new procedure of a re-augmentation (open surgery is not a registry procedure).
    procedure = models.ForeignKey(
        "procedures.Procedure", on_delete=models.PROTECT, null=True, blank=True, related_name="reinterventions"
    )
    fracture = models.ForeignKey(
        FractureEvent, on_delete=models.SET_NULL, null=True, blank=True, related_name="reinterventions"
    )
    note = bounded_text(blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    history = audited()

    class Meta:
        ordering = ["performed_on", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind="reaugmentation") | Q(procedure__isnull=False),
                name="reaugmentation_has_procedure",
            ),
            models.UniqueConstraint(
                fields=["index_level", "procedure"],
                condition=Q(procedure__isnull=False),
                name="reintervention_once_per_procedure",
            ),
            bounded_text_constraint("note", name="reintervention_note_length"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.performed_on}"
