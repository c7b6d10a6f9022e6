"""Procedures, treated levels, cement catalogue and lots, leaks and complications.

Vocabularies and ranges are those of DATA_DICTIONARY.md section 2. Ranges are enforced twice: by
field validators (clear messages on forms and the API) and by check constraints (nothing slips in
through a bulk write or an import).
"""

from __future__ import annotations

import re
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from registry.core.audit import audited
from registry.core.models import TimeStampedModel, bounded_text, bounded_text_constraint
from registry.patients.models import validate_not_future

# --- Vocabularies --------------------------------------------------------------------------------


class ProcedureType(models.TextChoices):
    PVP = "PVP", _("Percutaneous vertebroplasty")
    PKP = "PKP", _("Balloon kyphoplasty")
    OTHER = "OTHER", _("Other (stenting, sacroplasty)")


class Indication(models.TextChoices):
    OSTEOPOROTIC = "osteoporotic", _("Osteoporotic fracture")
    METASTASIS = "metastasis", _("Metastasis")
    MYELOMA = "myeloma", _("Myeloma / plasmacytoma")
    HAEMANGIOMA = "haemangioma", _("Haemangioma")
    TRAUMATIC = "traumatic_a1", _("Traumatic (A1)")
    OTHER = "other", _("Other")

    @classmethod
    def neoplastic(cls) -> tuple[str, ...]:
        return (cls.METASTASIS, cls.MYELOMA)


class FractureAge(models.TextChoices):
    ACUTE = "acute", _("Acute (< 6 weeks)")
    SUBACUTE = "subacute", _("Subacute (6 weeks – 3 months)")
    CHRONIC = "chronic", _("Chronic (> 3 months)")


class MriOedema(models.TextChoices):
    PRESENT = "present", _("Present")
    ABSENT = "absent", _("Absent")
    NOT_DONE = "not_done", _("MRI not done")


class Setting(models.TextChoices):
    OUTPATIENT = "outpatient", _("Outpatient")
    INPATIENT = "inpatient", _("Inpatient")


class Anaesthesia(models.TextChoices):
    LOCAL = "local", _("Local")
    LOCAL_SEDATION = "local_sedation", _("Local + light sedation")
    ESP_BLOCK = "esp_block", _("Erector spinae plane block")
    GENERAL = "general", _("General")


class Guidance(models.TextChoices):
    SINGLE_PLANE = "single_plane", _("Single-plane fluoroscopy")
    BIPLANE = "biplane", _("Biplane fluoroscopy")
    CT = "ct", _("CT")
    CT_FLUORO = "ct_fluoroscopy", _("CT-fluoroscopy")


class Radiotherapy(models.TextChoices):
    NONE = "none", _("None")
    BEFORE = "before", _("Before")
    AFTER = "after", _("After")


class NeuroCheck(models.TextChoices):
    NORMAL = "normal", _("Normal")
    NEW_DEFICIT = "new_deficit", _("New deficit")
    NOT_DONE = "not_done", _("Not documented")


class VertebralLevel(models.IntegerChoices):
    """The value is the ordinal: adjacent levels differ by one (T12 = 19, L1 = 20)."""

    C1 = 1, "C1"
    C2 = 2, "C2"
    C3 = 3, "C3"
    C4 = 4, "C4"
    C5 = 5, "C5"
    C6 = 6, "C6"
    C7 = 7, "C7"
    T1 = 8, "T1"
    T2 = 9, "T2"
    T3 = 10, "T3"
    T4 = 11, "T4"
    T5 = 12, "T5"
    T6 = 13, "T6"
    T7 = 14, "T7"
    T8 = 15, "T8"
    T9 = 16, "T9"
    T10 = 17, "T10"
    T11 = 18, "T11"
    T12 = 19, "T12"
    L1 = 20, "L1"
    L2 = 21, "L2"
    L3 = 22, "L3"
    L4 = 23, "L4"
    L5 = 24, "L5"
    S1 = 25, "S1 (sacrum)"

    @classmethod
    def from_label(cls, text: str) -> VertebralLevel:
        key = re.sub(r"\s+", "", str(text)).upper()
        key = {"S": "S1", "SACRUM": "S1"}.get(key, key)
        try:
            return cls[key]
        except KeyError:
            raise ValueError(f"{text!r} is not a vertebral level (C1–C7, T1–T12, L1–L5, S1).") from None

    @property
    def code(self) -> str:
        return self.name

    @property
    def region(self) -> str:
        return self.name[0]


THORACOLUMBAR_JUNCTION = range(VertebralLevel.T11, VertebralLevel.L2 + 1)


def levels_adjacent(a: int, b: int) -> bool:
    return abs(int(a) - int(b)) == 1


class Approach(models.TextChoices):
    UNIPEDICULAR = "unipedicular", _("Unipedicular")
    BIPEDICULAR = "bipedicular", _("Bipedicular")
    EXTRAPEDICULAR = "extrapedicular", _("Extrapedicular")
    ANTEROLATERAL = "anterolateral", _("Anterolateral / transoral (cervical)")


class CementMaterial(models.TextChoices):
    PMMA = "PMMA", "PMMA"
    OTHER = "other", _("Other")


class Viscosity(models.TextChoices):
    HIGH = "high", _("High")
    MEDIUM = "medium", _("Medium")
    LOW = "low", _("Low")


class InjectionPhase(models.TextChoices):
    EARLY = "early", _("Early (liquid)")
    WORKING = "working", _("Working (paste)")
    LATE = "late", _("Late (doughy)")


class LeakLocation(models.TextChoices):
    DISC_SUPERIOR = "disc_superior", _("Intradiscal — superior disc")
    DISC_INFERIOR = "disc_inferior", _("Intradiscal — inferior disc")
    PARAVERTEBRAL = "paravertebral", _("Paravertebral (lateral)")
    ANTERIOR = "anterior", _("Anterior")
    EPIDURAL = "epidural", _("Epidural / spinal canal (posterior)")
    FORAMINAL = "foraminal", _("Foraminal")
    VENOUS_BASIVERTEBRAL = "venous_basivertebral", _("Venous — basivertebral")
    VENOUS_SEGMENTAL = "venous_segmental", _("Venous — segmental")
    VENOUS_EPIDURAL_PLEXUS = "venous_epidural_plexus", _("Venous — epidural plexus")
    VENOUS_DISTANT = "venous_distant", _("Venous — distant (IVC / azygos / renal)")

    @classmethod
    def group_of(cls, location: str) -> str:
        """001 groups leaks as posterior, vascular and disc; the rest are 'other'."""
        if location.startswith("disc_"):
            return "disc"
        if location.startswith("venous_"):
            return "vascular"
        if location in (cls.EPIDURAL, cls.FORAMINAL):
            return "posterior"
        return "other"

    @classmethod
    def intradiscal(cls) -> tuple[str, ...]:
        return (cls.DISC_SUPERIOR, cls.DISC_INFERIOR)


class YeomPathway(models.TextChoices):
    B = "B", _("B — basivertebral vein")
    S = "S", _("S — segmental vein")
    C = "C", _("C — cortical defect")


class LeakSize(models.TextChoices):
    MINOR = "minor", _("Minor (< pedicle's largest diameter)")
    MODERATE = "moderate", _("Moderate (> pedicle, < vertebral height)")
    MASSIVE = "massive", _("Massive (> vertebral height)")


class LeakDetection(models.TextChoices):
    FLUOROSCOPY = "fluoroscopy", _("Intra-procedural fluoroscopy")
    RADIOGRAPH = "radiograph", _("Post-op radiograph")
    CT = "ct", _("Post-op CT")


class ComplicationFoundAt(models.TextChoices):
    DURING = "during_procedure", _("During the procedure")
    BEFORE_DISCHARGE = "before_discharge", _("Before discharge")
    FOLLOW_UP_VISIT = "follow_up_visit", _("Follow-up visit")
    SURVEY_RED_FLAG = "survey_red_flag", _("Survey red flag")
    OTHER = "other", _("Other")


class ComplicationType(models.TextChoices):
    PCE = "embolism_pulmonary", _("Cement embolism — pulmonary (PCE)")
    EMBOLISM_CARDIAC = "embolism_cardiac", _("Cement embolism — cardiac")
    EMBOLISM_VENOUS = "embolism_venous", _("Cement embolism — renal / other venous")
    EMBOLISM_ARTERIAL = "embolism_arterial", _("Cement embolism — arterial")
    EMBOLISM_CEREBRAL = "embolism_cerebral", _("Cement embolism — cerebral")
    RADICULOPATHY = "neuro_radiculopathy", _("Neurological — radicular pain / radiculopathy")
    NEURITIS = "neuro_transient_neuritis", _("Neurological — transient neuritis")
    CORD_COMPRESSION = "neuro_cord_compression", _("Neurological — cord compression / myelopathy")
    CAUDA_EQUINA = "neuro_cauda_equina", _("Neurological — cauda equina")
    PARAPLEGIA = "neuro_paraplegia", _("Neurological — paraplegia")
    PEDICLE_FRACTURE = "access_pedicle_fracture", _("Access — pedicle fracture")
    RIB_FRACTURE = "access_rib_fracture", _("Access — rib fracture")
    PNEUMOTHORAX = "access_pneumothorax", _("Access — pneumothorax")
    HAEMOTHORAX = "access_haemothorax", _("Access — haemothorax")
    VASCULAR_INJURY = "access_vascular_injury", _("Access — vascular injury")
    RETROPERITONEAL_HAEMATOMA = "access_retroperitoneal_haematoma", _("Access — retroperitoneal / psoas haematoma")
    LOCAL_HAEMATOMA = "access_local_haematoma", _("Access — local haematoma")
    WOUND_INFECTION = "infection_wound", _("Infection — wound")
    DISCITIS = "infection_discitis", _("Infection — discitis")
    OSTEOMYELITIS = "infection_osteomyelitis", _("Infection — osteomyelitis / spondylitis")
    ABSCESS = "infection_abscess", _("Infection — epidural or paravertebral abscess")
    SEPSIS = "infection_sepsis", _("Infection — sepsis")
    HYPERSENSITIVITY = "hypersensitivity", _("Hypersensitivity / anaphylaxis to cement")
    ADJACENT_FRACTURE = "fracture_adjacent", _("Fracture — new adjacent-level")
    REMOTE_FRACTURE = "fracture_remote", _("Fracture — new remote-level")
    INDEX_REFRACTURE = "fracture_index", _("Fracture — index-level refracture / collapse")
    PAIN_INCREASE = "transient_pain", _("Transient pain increase")
    OTHER = "other", _("Other")
    DEATH = "death", _("Death")

    @property
    def group(self) -> str:
        return self.value.split("_")[0]


class SirSeverity(models.TextChoices):
    """SIR adverse-event scale, mildest first; 'major' is severe or worse."""

    MILD = "mild", _("Mild")
    MODERATE = "moderate", _("Moderate")
    SEVERE = "severe", _("Severe")
    LIFE_THREATENING = "life_threatening", _("Life-threatening or disabling")
    DEATH = "death", _("Death")

    @classmethod
    def major(cls) -> tuple[str, ...]:
        return (cls.SEVERE, cls.LIFE_THREATENING, cls.DEATH)


class AdverseEventRelation(models.TextChoices):
    """An investigator's judgement of an adverse event or new fracture (DATA_DICTIONARY.md §6)."""

    RELATED = "related", _("Related")
    POSSIBLY = "possibly", _("Possibly related")
    UNRELATED = "unrelated", _("Unrelated")


class Management(models.TextChoices):
    OBSERVATION = "observation", _("Observation")
    MEDICATION = "medication", _("Medication")
    ANTICOAGULATION = "anticoagulation", _("Anticoagulation")
    ANTIBIOTICS = "antibiotics", _("Antibiotics")
    INTERVENTIONAL = "interventional", _("Interventional (embolisation, drain, retrieval)")
    SURGERY = "surgery", _("Surgery (decompression, embolectomy)")
    ICU = "icu", _("ICU")


class ComplicationOutcome(models.TextChoices):
    RESOLVED = "resolved", _("Resolved")
    SEQUELAE = "resolved_sequelae", _("Resolved with sequelae")
    ONGOING = "ongoing", _("Ongoing")
    PERMANENT = "permanent", _("Permanent")
    FATAL = "fatal", _("Fatal")


# --- Ranges -------------------------------------------------------------------------------------

FLUORO_SECONDS_MAX = 7200
DAP_MAX = Decimal("1000")
CEMENT_ML_MAX = Decimal("15")
CEMENT_ML_WARN = Decimal("7")
NEEDLE_GAUGE_MIN, NEEDLE_GAUGE_MAX = 8, 15
BODY_CC_MAX = Decimal("200")
LEVELS_WARN = 5


def normalise_lot_number(raw: str) -> str:
    """Lots are matched ignoring case, spaces and dashes (scanners and people type them differently)."""
    return re.sub(r"[\s\-‐-―_./]+", "", str(raw or "")).upper()


# --- Cement catalogue ---------------------------------------------------------------------------


class CementProduct(TimeStampedModel):
    manufacturer = models.CharField(max_length=120)
    brand = models.CharField(max_length=120)
    material = models.CharField(max_length=10, choices=CementMaterial.choices, default=CementMaterial.PMMA)
    gtin = models.CharField(
        "GTIN",
        max_length=14,
        blank=True,
        validators=[RegexValidator(r"^\d{14}$", _("A GTIN is 14 digits."))],
        help_text=_("GS1 Global Trade Item Number on the kit's barcode."),
    )
    hibc_labeler_product = models.CharField(
        "HIBC labeler + product code", max_length=24, blank=True, help_text=_("For kits labelled with HIBC barcodes.")
    )
    default_viscosity = models.CharField(max_length=10, choices=Viscosity.choices, blank=True)
    active = models.BooleanField(default=True)

    history = audited()

    class Meta:
        ordering = ["manufacturer", "brand"]
        constraints = [
            models.UniqueConstraint(fields=["manufacturer", "brand"], name="cement_product_unique"),
            models.UniqueConstraint(fields=["gtin"], condition=~Q(gtin=""), name="cement_product_gtin_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.brand} ({self.manufacturer})"


class CementLot(TimeStampedModel):
    product = models.ForeignKey(CementProduct, on_delete=models.PROTECT, related_name="lots")
    lot_number = models.CharField(max_length=40, help_text=_("As printed on the kit."))
    lot_number_normalised = models.CharField(max_length=40, editable=False, db_index=True)
    expires_on = models.DateField(null=True, blank=True)

    history = audited()

    class Meta:
        ordering = ["product", "lot_number_normalised"]
        constraints = [
            models.UniqueConstraint(fields=["product", "lot_number_normalised"], name="cement_lot_unique_per_product"),
            models.CheckConstraint(condition=~Q(lot_number_normalised=""), name="cement_lot_number_required"),
        ]

    def __str__(self) -> str:
        return f"{self.product.brand} lot {self.lot_number}"


# --- Procedure ----------------------------------------------------------------------------------


class Procedure(TimeStampedModel):
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="procedures")
    # Denormalised from the patient so that site scoping and reports need no join.
    site = models.ForeignKey("patients.Site", on_delete=models.PROTECT, related_name="procedures")
    performed_on = models.DateField(_("procedure date"), validators=[validate_not_future])
    operator = models.CharField(max_length=120)
    setting = models.CharField(max_length=12, choices=Setting.choices, default=Setting.OUTPATIENT)
    procedure_type = models.CharField(_("type"), max_length=5, choices=ProcedureType.choices)
    indication = models.CharField(max_length=20, choices=Indication.choices)
    fracture_age_days = models.PositiveIntegerField(null=True, blank=True, validators=[MaxValueValidator(36500)])
    fracture_age = models.CharField(max_length=10, choices=FractureAge.choices, blank=True)
    mri_oedema = models.CharField("MRI / STIR oedema", max_length=10, choices=MriOedema.choices, blank=True)
    anaesthesia = models.CharField(max_length=16, choices=Anaesthesia.choices)
    guidance = models.CharField(max_length=16, choices=Guidance.choices)
    biopsy_taken = models.BooleanField(default=False)
    histology_result = models.CharField(max_length=200, blank=True)
    combined_rfa = models.BooleanField("combined RFA", default=False)
    radiotherapy = models.CharField(max_length=8, choices=Radiotherapy.choices, default=Radiotherapy.NONE)
    open_fixation = models.BooleanField("open fixation in the same session", default=False)
    fluoroscopy_seconds = models.PositiveIntegerField(
        "fluoroscopy time (s)", null=True, blank=True, validators=[MaxValueValidator(FLUORO_SECONDS_MAX)]
    )
    dose_area_product = models.DecimalField(
        "dose–area product (Gy·cm²)",
        max_digits=6,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(DAP_MAX)],
    )
    # Pre-procedure safety checklist (002 "Master checklist").
    risks_consented = models.BooleanField(
        "risks consented (leak, neural injury, infection, adjacent fracture)", default=False
    )
    anticoagulation_reviewed = models.BooleanField(default=False)
    allergy_screened = models.BooleanField(default=False)
    baseline_neuro_documented = models.BooleanField("baseline neuro exam documented", default=False)
    antibiotic_prophylaxis = models.BooleanField(default=False)
    post_neuro_check = models.CharField(
        "post-procedure neuro check", max_length=12, choices=NeuroCheck.choices, default=NeuroCheck.NORMAL
    )
    baseline_karnofsky = models.PositiveSmallIntegerField(null=True, blank=True)
    notes = bounded_text(blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True)

    history = audited()

    class Meta:
        ordering = ["-performed_on", "-id"]
        constraints = [
            bounded_text_constraint("notes", name="procedure_notes_length"),
            models.CheckConstraint(
                condition=Q(fluoroscopy_seconds__isnull=True) | Q(fluoroscopy_seconds__lte=FLUORO_SECONDS_MAX),
                name="procedure_fluoroscopy_range",
            ),
            models.CheckConstraint(
                condition=Q(dose_area_product__isnull=True)
                | Q(dose_area_product__gte=0, dose_area_product__lte=DAP_MAX),
                name="procedure_dap_range",
            ),
            models.CheckConstraint(
                condition=Q(baseline_karnofsky__isnull=True) | Q(baseline_karnofsky__in=tuple(range(0, 101, 10))),
                name="procedure_karnofsky_steps",
            ),
        ]
        indexes = [
            models.Index(fields=["site", "performed_on"]),
            models.Index(fields=["patient", "performed_on"]),
            # The case list's filters (EXISTS a procedure of this type / indication) answered from
            # the index alone, and a rare value found without walking every patient (issue #14).
            models.Index(fields=["procedure_type", "patient"], name="procedure_type_patient_idx"),
            models.Index(fields=["indication", "patient"], name="procedure_indication_pat_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_procedure_type_display()} on {self.performed_on}"

    def clean(self) -> None:
        from registry.patients.models import AGE_MAX, AGE_MIN, age_on, validate_karnofsky

        validate_karnofsky(self.baseline_karnofsky)
        patient = getattr(self, "patient", None) if self.patient_id else None
        if patient and self.performed_on:
            if self.performed_on < patient.date_of_birth:
                raise ValidationError({"performed_on": _("The procedure date is before the patient's birth.")})
            age = age_on(patient.date_of_birth, self.performed_on)
            if not AGE_MIN <= age <= AGE_MAX:
                raise ValidationError(
                    {"performed_on": _("The patient would be %(age)s at this date; the registry takes 18–110.")},
                    params={"age": age},
                )


class TreatedLevel(TimeStampedModel):
    procedure = models.ForeignKey(Procedure, on_delete=models.CASCADE, related_name="levels")
    level = models.PositiveSmallIntegerField(choices=VertebralLevel.choices)
    approach = models.CharField(max_length=16, choices=Approach.choices)
    needle_gauge = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(NEEDLE_GAUGE_MIN), MaxValueValidator(NEEDLE_GAUGE_MAX)]
    )
    cement_lot = models.ForeignKey(CementLot, on_delete=models.PROTECT, related_name="treated_levels")
    viscosity = models.CharField(max_length=10, choices=Viscosity.choices, blank=True)
    injection_phase = models.CharField(max_length=10, choices=InjectionPhase.choices, blank=True)
    cement_volume_ml = models.DecimalField(
        "cement volume (mL)",
        max_digits=4,
        decimal_places=1,
        validators=[MinValueValidator(Decimal("0.1")), MaxValueValidator(CEMENT_ML_MAX)],
    )
    vertebral_body_volume_cc = models.DecimalField(
        "vertebral body volume (cc)",
        max_digits=5,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("1")), MaxValueValidator(BODY_CC_MAX)],
    )
    height_loss_percent = models.PositiveSmallIntegerField(
        "height loss (%)", null=True, blank=True, validators=[MaxValueValidator(100)]
    )
    kyphotic_angle_deg = models.DecimalField(
        "kyphotic angle (°)",
        max_digits=4,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("-90")), MaxValueValidator(Decimal("90"))],
    )
    posterior_wall_intact = models.BooleanField(null=True, blank=True)
    intravertebral_cleft = models.BooleanField(null=True, blank=True)
    balloon_inflated = models.BooleanField(null=True, blank=True, help_text=_("Kyphoplasty only."))
    height_restored = models.BooleanField(null=True, blank=True)

    history = audited()

    class Meta:
        ordering = ["procedure", "level"]
        constraints = [
            models.UniqueConstraint(fields=["procedure", "level"], name="treated_level_once_per_procedure"),
            models.CheckConstraint(condition=Q(level__gte=1, level__lte=25), name="treated_level_known"),
            models.CheckConstraint(
                condition=Q(cement_volume_ml__gt=0, cement_volume_ml__lte=CEMENT_ML_MAX),
                name="treated_level_cement_range",
            ),
            models.CheckConstraint(
                condition=Q(needle_gauge__isnull=True)
                | Q(needle_gauge__gte=NEEDLE_GAUGE_MIN, needle_gauge__lte=NEEDLE_GAUGE_MAX),
                name="treated_level_needle_range",
            ),
            models.CheckConstraint(
                condition=Q(vertebral_body_volume_cc__isnull=True)
                | Q(vertebral_body_volume_cc__gt=0, vertebral_body_volume_cc__lte=BODY_CC_MAX),
                name="treated_level_body_volume_range",
            ),
            models.CheckConstraint(
                condition=Q(height_loss_percent__isnull=True) | Q(height_loss_percent__lte=100),
                name="treated_level_height_loss_range",
            ),
        ]

    def __str__(self) -> str:
        return self.get_level_display()

    @property
    def level_code(self) -> str:
        return VertebralLevel(self.level).name

    @property
    def fill_percent(self) -> Decimal | None:
        """Derived, never typed: cement volume ÷ vertebral body volume × 100."""
        if not self.vertebral_body_volume_cc or self.cement_volume_ml is None:
            return None
        return (Decimal(self.cement_volume_ml) / Decimal(self.vertebral_body_volume_cc) * 100).quantize(Decimal("0.1"))

    @property
    def at_thoracolumbar_junction(self) -> bool:
        return self.level in THORACOLUMBAR_JUNCTION


class Adjudicated(models.Model):
    """Investigator adjudication of an adverse event (complication or new fracture): the relation
    to the procedure, and who signed it off when."""

    relation_to_procedure = models.CharField(max_length=10, choices=AdverseEventRelation.choices, blank=True)
    signed_off_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    signed_off_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


class Complication(TimeStampedModel, Adjudicated):
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="complications")
    procedure = models.ForeignKey(Procedure, on_delete=models.PROTECT, related_name="complications")
    treated_level = models.ForeignKey(
        TreatedLevel, on_delete=models.SET_NULL, null=True, blank=True, related_name="complications"
    )
    onset_on = models.DateField(validators=[validate_not_future])
    found_at = models.CharField(max_length=20, choices=ComplicationFoundAt.choices)
    complication_type = models.CharField(_("type"), max_length=40, choices=ComplicationType.choices)
    severity = models.CharField(_("SIR severity"), max_length=20, choices=SirSeverity.choices)
    symptomatic = models.BooleanField(default=True)
    management = models.CharField(max_length=16, choices=Management.choices, blank=True)
    outcome = models.CharField(max_length=20, choices=ComplicationOutcome.choices, default=ComplicationOutcome.ONGOING)
    resolved_on = models.DateField(null=True, blank=True, validators=[validate_not_future])
    description = bounded_text(blank=True)

    history = audited()

    class Meta:
        ordering = ["onset_on", "id"]
        constraints = [
            bounded_text_constraint("description", name="complication_description_length"),
            models.CheckConstraint(
                condition=Q(resolved_on__isnull=True) | Q(resolved_on__gte=models.F("onset_on")),
                name="complication_resolved_after_onset",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_complication_type_display()} ({self.get_severity_display()})"

    @property
    def is_major(self) -> bool:
        return self.severity in SirSeverity.major()

    def clean(self) -> None:
        if self.procedure_id and self.onset_on and self.onset_on < self.procedure.performed_on:
            raise ValidationError(
                {"onset_on": _("Onset is before the procedure (%(date)s).")},
                params={"date": self.procedure.performed_on},
            )
        if self.resolved_on and self.onset_on and self.resolved_on < self.onset_on:
            raise ValidationError({"resolved_on": _("Resolution is before onset.")})
        if self.treated_level_id and self.procedure_id and self.treated_level.procedure_id != self.procedure_id:
            raise ValidationError({"treated_level": _("That level belongs to another procedure.")})


class CementLeak(TimeStampedModel):
    treated_level = models.ForeignKey(TreatedLevel, on_delete=models.CASCADE, related_name="leaks")
    location = models.CharField(max_length=32, choices=LeakLocation.choices)
    pathway = models.CharField("Yeom pathway", max_length=1, choices=YeomPathway.choices, blank=True)
    size_grade = models.CharField(max_length=10, choices=LeakSize.choices, blank=True)
    detected_by = models.CharField(max_length=12, choices=LeakDetection.choices)
    symptomatic = models.BooleanField(default=False)
    complication = models.ForeignKey(
        Complication, on_delete=models.PROTECT, null=True, blank=True, related_name="leaks"
    )

    history = audited()

    class Meta:
        ordering = ["treated_level", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(symptomatic=False) | Q(complication__isnull=False),
                name="cement_leak_symptomatic_needs_complication",
            ),
        ]

    def __str__(self) -> str:
        return self.get_location_display()

    @property
    def location_group(self) -> str:
        return LeakLocation.group_of(self.location)

    def clean(self) -> None:
        if self.symptomatic and not self.complication_id:
            raise ValidationError({"complication": _("A symptomatic leak must be linked to a complication record.")})
