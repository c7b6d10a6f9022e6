"""Sites, patients and consent (DATA_DICTIONARY.md section 2)."""

from __future__ import annotations

import zoneinfo
from datetime import date, time
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from registry.core.audit import audited
from registry.core.models import TimeStampedModel, bounded_text, bounded_text_constraint


def validate_holiday_country(value: str) -> None:
    import holidays

    if value and value not in holidays.list_supported_countries():
        raise ValidationError(
            _("%(value)s is not a country the holidays calendar knows (ISO 3166 code, e.g. ES)."),
            params={"value": value},
        )


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(
            _("%(value)s is not a known IANA time zone, e.g. Europe/Madrid."), params={"value": value}
        )


class Language(models.TextChoices):
    ENGLISH = "en", "English"
    SPANISH = "es", "Español"


class Site(TimeStampedModel):
    """A department that enters cases; its code prefixes every study id (``TOL-000123``)."""

    code = models.CharField(
        max_length=8,
        unique=True,
        validators=[RegexValidator(r"^[A-Z]{2,8}$", _("Two to eight capital letters, e.g. TOL."))],
    )
    name = models.CharField(max_length=200)
    time_zone = models.CharField(max_length=64, default="Europe/Madrid", validators=[validate_time_zone])
    contact_email = models.EmailField(help_text=_("Shown to patients on survey pages and in emails."))
    clinician_email = models.EmailField(blank=True, help_text=_("Receives red-flag and bone-health alerts."))
    contact_phone = models.CharField(max_length=40, blank=True)
    # What patients are told to call in an emergency: 112 in Europe, 911 in the US, 000 in Australia.
    emergency_number = models.CharField(
        max_length=16,
        blank=True,
        validators=[RegexValidator(r"^\+?[0-9][0-9 ]{1,14}$", _("Digits only, e.g. 112, 911 or 000."))],
        help_text=_("Shown to patients on survey pages and in emails. Empty: “your local emergency number”."),
    )
    patient_contact_text_en = models.CharField(
        _("contact text for patients (English)"),
        max_length=500,
        blank=True,
        help_text=_("E.g. opening hours of the phone line; shown to patients under the site's contact."),
    )
    patient_contact_text_es = models.CharField(_("contact text for patients (Spanish)"), max_length=500, blank=True)
    # Staff emails to the site mailboxes (contact_email, clinician_email) and to its users who chose
    # no language of their own; each user's own choice wins (followup StaffMailPreference).
    staff_language = models.CharField(
        _("language of staff emails"),
        max_length=5,
        choices=Language.choices,
        default=Language.ENGLISH,
        help_text=_("Alerts and digests to the site mailboxes are written in this language."),
    )
    active = models.BooleanField(default=True)
    # The sending calendar (DATA_DICTIONARY "sending calendar"): emails to patients and non-urgent
    # staff reminders go out only inside these hours, on these days, outside public holidays.
    send_from = models.TimeField(default=time(9, 0), help_text=_("Emails go out from this local time."))
    send_until = models.TimeField(default=time(19, 0), help_text=_("... until this local time."))
    send_weekdays = models.CharField(
        max_length=7,
        default="12345",
        validators=[RegexValidator(r"^[1-7]{1,7}$", _("ISO weekday digits, 1 = Monday … 7 = Sunday, e.g. 12345."))],
        help_text=_("Sending days as ISO weekday digits: 12345 = Monday to Friday."),
    )
    holiday_country = models.CharField(
        max_length=3,
        blank=True,
        validators=[validate_holiday_country],
        help_text=_("ISO 3166 country whose public holidays are not sending days, e.g. ES; empty: none."),
    )
    holiday_subdivision = models.CharField(
        max_length=10, blank=True, help_text=_("Region whose holidays apply too, e.g. CM (Castilla-La Mancha).")
    )
    # Next number for study ids; taken under a row lock so two registrations never share one.
    next_study_number = models.PositiveIntegerField(default=1, editable=False)

    history = audited(excluded_fields=["next_study_number"])

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(send_from__lt=models.F("send_until")), name="site_send_hours_order"),
            models.CheckConstraint(condition=Q(send_weekdays__regex=r"^[1-7]{1,7}$"), name="site_send_weekdays_iso"),
        ]

    def __str__(self) -> str:
        return f"{self.code} — {self.name}"

    def patient_contact_text(self, language: str) -> str:
        """The contact text in the patient's language, or the other one rather than nothing."""
        texts = {"en": self.patient_contact_text_en, "es": self.patient_contact_text_es}
        return texts.get(language) or self.patient_contact_text_en or self.patient_contact_text_es

    def clean(self) -> None:
        import holidays

        super().clean()
        if self.holiday_subdivision:
            known = holidays.list_supported_countries().get(self.holiday_country, [])
            if self.holiday_subdivision not in known:
                raise ValidationError(
                    {"holiday_subdivision": _("Not a subdivision of the holiday country; leave empty or choose one.")}
                )


class Sex(models.TextChoices):
    FEMALE = "female", _("Female")
    MALE = "male", _("Male")
    OTHER = "other", _("Other")
    UNKNOWN = "unknown", _("Unknown")


class ConsentStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    CONSENTED = "consented", _("Consented")
    DECLINED = "declined", _("Declined")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class OsteoporosisTherapy(models.TextChoices):
    NONE = "none", _("None")
    BISPHOSPHONATE = "bisphosphonate", _("Bisphosphonate")
    DENOSUMAB = "denosumab", _("Denosumab")
    ANABOLIC = "teriparatide_abaloparatide", _("Teriparatide / abaloparatide")
    ROMOSOZUMAB = "romosozumab", _("Romosozumab")
    OTHER = "other", _("Other")


class PrimaryTumour(models.TextChoices):
    """004 Table 1."""

    BREAST = "breast", _("Breast")
    LUNG = "lung", _("Lung")
    MYELOMA = "multiple_myeloma", _("Multiple myeloma")
    PROSTATE = "prostate", _("Prostate")
    KIDNEY = "kidney", _("Kidney")
    COLORECTAL = "colorectal", _("Colorectal")
    LYMPHOMA = "lymphoma", _("Lymphoma")
    THYROID = "thyroid", _("Thyroid")
    LIVER = "liver", _("Liver")
    STOMACH = "stomach", _("Stomach")
    OTHER = "other", _("Other")
    UNKNOWN = "unknown_primary", _("Unknown primary")


class LesionType(models.TextChoices):
    OSTEOLYTIC = "osteolytic", _("Osteolytic")
    OSTEOBLASTIC = "osteoblastic", _("Osteoblastic")
    MIXED = "mixed", _("Mixed")


T_SCORE_MIN, T_SCORE_MAX = Decimal("-7.0"), Decimal("4.0")
KARNOFSKY_VALUES = tuple(range(0, 101, 10))
AGE_MIN, AGE_MAX = 18, 110


class FollowUpStatus(models.TextChoices):
    """Whether follow-up may contact the patient, derived from consent, opt-out and death.

    The first that applies wins, in this order. The follow-up app adds per-event statuses on the
    patient page; this is the patient-level summary the list filters on.
    """

    DECEASED = "deceased", _("Deceased")
    WITHDRAWN = "withdrawn", _("Consent withdrawn")
    DECLINED = "declined", _("Consent declined")
    PENDING = "pending", _("Consent pending")
    OPTED_OUT = "opted_out", _("Opted out of emails")
    ACTIVE = "active", _("In follow-up")


# The follow-up status as SQL, for the case list's filter and its index (Patient.Meta.indexes):
# the same rules as ``patients.selectors.followup_status_of``, which reads it from a loaded patient.
FOLLOWUP_STATUS = models.Case(
    models.When(deceased_on__isnull=False, then=models.Value(FollowUpStatus.DECEASED.value)),
    models.When(
        consent_status__in=(ConsentStatus.WITHDRAWN.value, ConsentStatus.DECLINED.value, ConsentStatus.PENDING.value),
        then=models.F("consent_status"),
    ),
    models.When(contact_opt_out=True, then=models.Value(FollowUpStatus.OPTED_OUT.value)),
    default=models.Value(FollowUpStatus.ACTIVE.value),
    output_field=models.CharField(),
)


def validate_karnofsky(value: int | None) -> None:
    if value is not None and value not in KARNOFSKY_VALUES:
        raise ValidationError(_("Karnofsky is 0–100 in steps of 10."))


def validate_not_future(value: date | None) -> None:
    from django.utils import timezone

    if value is not None and value > timezone.localdate():
        raise ValidationError(_("This date is in the future."))


def age_on(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


class Patient(TimeStampedModel):
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="patients")
    study_id = models.CharField(max_length=20, unique=True, editable=False)
    mrn = models.CharField(_("MRN"), max_length=40)
    given_name = models.CharField(max_length=100)
    family_name = models.CharField(max_length=100)
    date_of_birth = models.DateField(validators=[validate_not_future])
    sex = models.CharField(max_length=10, choices=Sex.choices)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    preferred_language = models.CharField(max_length=5, choices=Language.choices, default=Language.ENGLISH)

    consent_status = models.CharField(max_length=10, choices=ConsentStatus.choices, default=ConsentStatus.PENDING)
    consent_date = models.DateField(null=True, blank=True, validators=[validate_not_future])
    consent_form_version = models.CharField(max_length=40, blank=True)
    contact_opt_out = models.BooleanField(default=False, help_text=_("The patient asked to stop emails."))
    contact_opt_out_at = models.DateTimeField(null=True, blank=True)
    deceased_on = models.DateField(null=True, blank=True, validators=[validate_not_future])

    # Baseline risk factors (002 checklists).
    anticoagulant_use = models.BooleanField(default=False)
    antiplatelet_use = models.BooleanField(default=False)
    coagulopathy = models.BooleanField(default=False)
    copd = models.BooleanField("COPD", default=False)
    sleep_apnoea = models.BooleanField(default=False)
    heart_failure = models.BooleanField(default=False)
    diabetes = models.BooleanField(default=False)
    immunosuppression = models.BooleanField(default=False)
    prior_spondylodiscitis = models.BooleanField(default=False)
    prior_vertebral_augmentation = models.BooleanField(default=False)
    cement_or_contrast_allergy = models.BooleanField("known PMMA / contrast allergy", default=False)

    # Bone health at entry.
    last_dxa_on = models.DateField("last DXA", null=True, blank=True, validators=[validate_not_future])
    lowest_t_score = models.DecimalField(
        max_digits=3,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(T_SCORE_MIN), MaxValueValidator(T_SCORE_MAX)],
    )
    osteoporosis_therapy = models.CharField(
        max_length=32, choices=OsteoporosisTherapy.choices, default=OsteoporosisTherapy.NONE
    )
    calcium_vitamin_d = models.BooleanField("calcium / vitamin D", default=False)

    # Oncology, when the indication is neoplastic.
    primary_tumour = models.CharField(max_length=20, choices=PrimaryTumour.choices, blank=True)
    lesion_type = models.CharField(max_length=12, choices=LesionType.choices, blank=True)
    karnofsky = models.PositiveSmallIntegerField(null=True, blank=True, validators=[validate_karnofsky])
    asa_class = models.PositiveSmallIntegerField(
        "ASA class", null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(5)]
    )

    history = audited()

    class Meta:
        ordering = ["site", "study_id"]
        constraints = [
            models.UniqueConstraint(fields=["site", "mrn"], name="patient_mrn_unique_per_site"),
            models.CheckConstraint(
                condition=Q(lowest_t_score__isnull=True)
                | Q(lowest_t_score__gte=T_SCORE_MIN, lowest_t_score__lte=T_SCORE_MAX),
                name="patient_t_score_range",
            ),
            models.CheckConstraint(
                condition=Q(karnofsky__isnull=True) | Q(karnofsky__in=KARNOFSKY_VALUES), name="patient_karnofsky_steps"
            ),
            models.CheckConstraint(
                condition=Q(asa_class__isnull=True) | Q(asa_class__gte=1, asa_class__lte=5), name="patient_asa_range"
            ),
            models.CheckConstraint(
                condition=~Q(consent_status=ConsentStatus.CONSENTED) | Q(consent_date__isnull=False),
                name="patient_consent_has_date",
            ),
            models.CheckConstraint(
                condition=Q(deceased_on__isnull=True) | Q(deceased_on__gte=models.F("date_of_birth")),
                name="patient_deceased_after_birth",
            ),
        ]
        indexes = [
            models.Index(fields=["site", "family_name"]),
            # The case list walks patients in id order checking their site (newest first, and the
            # merge with a procedure filter): read from the index alone, not the table (issue #14).
            models.Index(fields=["id"], include=["site"], name="patient_id_site_idx"),
            # A follow-up status filter walks its own patients newest first (issue #14).
            models.Index(FOLLOWUP_STATUS, models.F("id"), name="patient_followup_status_idx"),
        ]

    def __str__(self) -> str:
        # The pseudonym, never a name: str() ends up in logs and admin messages.
        return self.study_id

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    @property
    def may_be_contacted(self) -> bool:
        """Follow-up contact needs consent, no opt-out and a living patient."""
        return self.consent_status == ConsentStatus.CONSENTED and not self.contact_opt_out and self.deceased_on is None

    def clean(self) -> None:
        if self.consent_status == ConsentStatus.CONSENTED and not self.consent_date:
            raise ValidationError({"consent_date": _("Give the date consent was recorded.")})
        if self.deceased_on and self.date_of_birth and self.deceased_on < self.date_of_birth:
            raise ValidationError({"deceased_on": _("The date of death is before the date of birth.")})
        if self.primary_tumour == "" and self.lesion_type:
            raise ValidationError({"primary_tumour": _("Give the primary tumour for a neoplastic lesion.")})


class ConsentEvent(models.Model):
    """Every consent decision in order: the patient's consent history."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="consent_events")
    status = models.CharField(max_length=10, choices=ConsentStatus.choices)
    effective_on = models.DateField()
    form_version = models.CharField(max_length=40, blank=True)
    note = bounded_text(blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["patient", "recorded_at"]
        constraints = [bounded_text_constraint("note", name="consent_event_note_length")]

    def __str__(self) -> str:
        return f"{self.patient_id}: {self.status} on {self.effective_on}"


class BoneHealthActionKind(models.TextChoices):
    DXA = "dxa", _("DXA scan")
    OSTEOPOROSIS_THERAPY = "osteoporosis_therapy", _("Osteoporosis therapy started / optimised")
    FALLS_REFERRAL = "falls_referral", _("Falls-clinic referral")
    PHYSIOTHERAPY_REFERRAL = "physiotherapy_referral", _("Physiotherapy referral")


class BoneHealthActionStatus(models.TextChoices):
    DUE = "due", _("Due")
    DONE = "done", _("Done")
    DECLINED = "declined", _("Declined")
    NOT_APPLICABLE = "not_applicable", _("Not applicable")


class BoneHealthAction(TimeStampedModel):
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="bone_health_actions")
    procedure = models.ForeignKey(
        "procedures.Procedure", on_delete=models.CASCADE, null=True, blank=True, related_name="bone_health_actions"
    )
    kind = models.CharField(max_length=32, choices=BoneHealthActionKind.choices)
    status = models.CharField(max_length=16, choices=BoneHealthActionStatus.choices, default=BoneHealthActionStatus.DUE)
    due_on = models.DateField()
    done_on = models.DateField(null=True, blank=True, validators=[validate_not_future])
    t_score = models.DecimalField(
        "lowest T-score",
        max_digits=3,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(T_SCORE_MIN), MaxValueValidator(T_SCORE_MAX)],
    )
    therapy = models.CharField(max_length=32, choices=OsteoporosisTherapy.choices, blank=True)
    note = bounded_text(blank=True)
    acted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Weekly reminders to the coordinator and clinician: when the last one went out.
    last_reminded_at = models.DateTimeField(null=True, blank=True)
    reminders_sent = models.PositiveSmallIntegerField(default=0)

    history = audited(excluded_fields=["last_reminded_at", "reminders_sent"])

    class Meta:
        ordering = ["due_on", "id"]
        constraints = [
            bounded_text_constraint("note", name="bone_health_note_length"),
            models.UniqueConstraint(
                fields=["procedure", "kind"],
                condition=Q(procedure__isnull=False),
                name="bone_health_action_once_per_procedure",
            ),
            models.CheckConstraint(
                condition=Q(t_score__isnull=True) | Q(t_score__gte=T_SCORE_MIN, t_score__lte=T_SCORE_MAX),
                name="bone_health_t_score_range",
            ),
            models.CheckConstraint(
                condition=~Q(status=BoneHealthActionStatus.DONE) | Q(done_on__isnull=False),
                name="bone_health_done_has_date",
            ),
        ]
        indexes = [models.Index(fields=["status", "due_on"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.get_status_display()})"
