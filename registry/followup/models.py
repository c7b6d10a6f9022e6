"""Follow-up protocol, scheduled events, survey invitations, outbound email, responses, worklist.

The database is the truth (STYLE.md item 3): every planned survey is a ``FollowUpEvent`` row,
every email an ``OutboundMessage`` row with a unique ``dedupe_key``, every call or alert for a
coordinator a ``WorklistItem``. The beat sweep and the send tasks only move rows between states.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from registry.core.audit import audited
from registry.core.models import TimeStampedModel, bounded_text, bounded_text_constraint
from registry.patients.models import Language

# Instrument codes a protocol event may list (scoring.py / instruments/ name the first three).
INSTRUMENT_CHOICES = (
    "vas",
    "odi",
    "karnofsky",
    "red_flags",
    "analgesic_use",
    "new_fracture",
    "osteoporosis_therapy",
)


def default_reminder_offsets() -> list[int]:
    return [3, 7]


class FollowUpProtocol(TimeStampedModel):
    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    is_default = models.BooleanField(default=False, help_text=_("Used by every site without a protocol of its own."))

    history = audited()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="one_default_protocol")
        ]

    def __str__(self) -> str:
        return self.name


class ProtocolEvent(TimeStampedModel):
    """One time point of a protocol; days count from the procedure date (day 0)."""

    protocol = models.ForeignKey(FollowUpProtocol, on_delete=models.CASCADE, related_name="events")
    code = models.SlugField(max_length=30, help_text=_("baseline, early, m3, m12 or any short code."))
    label = models.CharField(max_length=120)
    order = models.PositiveSmallIntegerField(default=0)
    window_start_day = models.IntegerField()
    invite_day = models.IntegerField(
        null=True, blank=True, help_text=_("Empty: the coordinator enters this time point (e.g. baseline).")
    )
    window_end_day = models.IntegerField()
    instruments = models.JSONField(default=list, help_text=", ".join(INSTRUMENT_CHOICES))
    reminder_offsets_days = models.JSONField(
        default=default_reminder_offsets, help_text=_("Days after the invitation, e.g. [3, 7].")
    )
    max_messages = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1)], help_text=_("Invitation plus reminders, at most.")
    )

    history = audited()

    class Meta:
        ordering = ["protocol", "order", "window_start_day"]
        constraints = [
            models.UniqueConstraint(fields=["protocol", "code"], name="protocol_event_code_unique"),
            models.CheckConstraint(
                condition=Q(window_start_day__lte=models.F("window_end_day")), name="protocol_event_window_order"
            ),
            models.CheckConstraint(
                condition=Q(invite_day__isnull=True)
                | Q(invite_day__gte=models.F("window_start_day"), invite_day__lte=models.F("window_end_day")),
                name="protocol_event_invite_in_window",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.protocol}: {self.label}"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        errors = {}
        if self.window_start_day is not None and self.window_end_day is not None:
            if self.window_start_day > self.window_end_day:
                errors["window_end_day"] = _("The window must end on or after the day it starts.")
            elif self.invite_day is not None and not self.window_start_day <= self.invite_day <= self.window_end_day:
                errors["invite_day"] = _("The invitation day must fall inside the window.")
        unknown = [code for code in self.instruments or [] if code not in INSTRUMENT_CHOICES]
        if not isinstance(self.instruments, list) or unknown:
            errors["instruments"] = _("A list of: %(codes)s.") % {"codes": ", ".join(INSTRUMENT_CHOICES)}
        offsets = self.reminder_offsets_days
        if not isinstance(offsets, list) or not all(isinstance(d, int) and d > 0 for d in offsets):
            errors["reminder_offsets_days"] = _("A list of whole days after the invitation, e.g. [3, 7].")
        if errors:
            raise ValidationError(errors)


class SiteFollowUpProtocol(TimeStampedModel):
    """A site that follows another protocol than the default one (new procedures use it)."""

    site = models.OneToOneField("patients.Site", on_delete=models.CASCADE, related_name="followup_protocol")
    protocol = models.ForeignKey(FollowUpProtocol, on_delete=models.PROTECT, related_name="sites")

    history = audited()

    class Meta:
        ordering = ["site"]

    def __str__(self) -> str:
        return f"{self.site.code}: {self.protocol}"


class EventStatus(models.TextChoices):
    SCHEDULED = "scheduled", _("Scheduled")
    INVITED = "invited", _("Invited")
    COMPLETED = "completed", _("Completed")
    MISSED = "missed", _("Missed")
    CANCELLED = "cancelled", _("Cancelled")
    SUPERSEDED = "superseded", _("Superseded by a later procedure")

    @classmethod
    def open(cls) -> tuple[str, ...]:
        return (cls.SCHEDULED, cls.INVITED)


class CancelCause(models.TextChoices):
    """Why an event closed without an answer other than its window running out.

    Reports decide censoring from this vocabulary (DATA_DICTIONARY: only death and withdrawal
    censor), never from the free-text note.
    """

    WITHDRAWN = "withdrawn", _("Patient withdrew consent")
    DECEASED = "deceased", _("Patient deceased")
    OPTED_OUT = "opted_out", _("Patient stopped emails")
    SUPERSEDED = "superseded", _("Superseded by a later procedure")
    NOT_IN_FOLLOWUP = "not_in_followup", _("Patient not in follow-up")
    RECORDED_LATE = "recorded_late", _("Window closed before the case was recorded")

    @classmethod
    def censoring(cls) -> tuple[str, ...]:
        return (cls.WITHDRAWN, cls.DECEASED)


class FollowUpEvent(TimeStampedModel):
    """One survey time point of one procedure; dates are civil dates in the site's calendar."""

    procedure = models.ForeignKey("procedures.Procedure", on_delete=models.CASCADE, related_name="followup_events")
    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="followup_events")
    site = models.ForeignKey("patients.Site", on_delete=models.PROTECT, related_name="followup_events")
    protocol_event = models.ForeignKey(ProtocolEvent, on_delete=models.PROTECT, related_name="followup_events")
    event_code = models.SlugField(max_length=30)
    window_opens_on = models.DateField()
    invite_on = models.DateField(null=True, blank=True)
    window_closes_on = models.DateField()
    status = models.CharField(max_length=12, choices=EventStatus.choices, default=EventStatus.SCHEDULED)
    status_changed_at = models.DateTimeField()
    cancel_cause = models.CharField(max_length=20, choices=CancelCause.choices, blank=True)
    # A human note beside the cause (shown on the patient page); never read by reports.
    cancel_reason = models.CharField(max_length=200, blank=True)
    superseded_by = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="supersedes"
    )

    history = audited()

    class Meta:
        ordering = ["window_opens_on", "id"]
        constraints = [
            models.UniqueConstraint(fields=["procedure", "protocol_event"], name="followup_event_once_per_procedure"),
            models.CheckConstraint(
                condition=Q(window_opens_on__lte=models.F("window_closes_on")), name="followup_event_window_order"
            ),
        ]
        indexes = [
            # The sweep's two range scans: windows to open and windows to close.
            models.Index(fields=["status", "invite_on"], name="followup_ev_status_invite"),
            models.Index(fields=["status", "window_closes_on"], name="followup_ev_status_closes"),
            models.Index(fields=["patient", "window_opens_on"], name="followup_ev_patient_opens"),
        ]

    def __str__(self) -> str:
        return f"{self.event_code} of procedure {self.procedure_id} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in EventStatus.open()


class SurveyInvitation(models.Model):
    """The single-use link of one event. Only a hash of the token is stored (tokens.py)."""

    event = models.OneToOneField(FollowUpEvent, on_delete=models.CASCADE, related_name="invitation")
    token_salt = models.CharField(max_length=64)
    token_hash = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField()
    opened_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)

    # The token's hash and salt stay out of the history: it records when a link was sent, opened
    # and used, not how to recognise it.
    history = audited(excluded_fields=["token_salt", "token_hash"])

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"Invitation {self.pk} for event {self.event_id}"

    @property
    def is_spent(self) -> bool:
        return self.submitted_at is not None

    def is_expired(self, now) -> bool:
        return now >= self.expires_at

    def is_usable(self, now) -> bool:
        """The link still takes answers: not submitted, not expired, its event still open."""
        return not self.is_spent and not self.is_expired(now) and self.event.status in EventStatus.open()


class MessageKind(models.TextChoices):
    INVITATION = "invitation", _("Survey invitation")
    REMINDER = "reminder", _("Survey reminder")
    # Legacy: one email per due action, before the daily digest replaced it. Nothing creates it
    # now; it stays only so that messages already stored keep their label (a data decision).
    BONE_HEALTH_REMINDER = "bone_health_reminder", _("Bone-health reminder")
    RED_FLAG_ALERT = "red_flag_alert", _("Red-flag alert")
    OPT_OUT_NOTICE = "opt_out_notice", _("Opt-out notice")
    STAFF_DIGEST = "staff_digest", _("Daily digest of due actions")

    @classmethod
    def to_patient(cls) -> tuple[str, ...]:
        return (cls.INVITATION, cls.REMINDER)


class MessageStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


class OutboundMessage(TimeStampedModel):
    """One email. A second copy is impossible: ``dedupe_key`` is unique (e.g. ``inv:12:2``)."""

    kind = models.CharField(max_length=24, choices=MessageKind.choices)
    site = models.ForeignKey("patients.Site", on_delete=models.PROTECT, related_name="outbound_messages")
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.CASCADE, null=True, blank=True, related_name="outbound_messages"
    )
    invitation = models.ForeignKey(
        SurveyInvitation, on_delete=models.CASCADE, null=True, blank=True, related_name="messages"
    )
    bone_health_action = models.ForeignKey(
        "patients.BoneHealthAction", on_delete=models.CASCADE, null=True, blank=True, related_name="messages"
    )
    response = models.ForeignKey(
        "followup.SurveyResponse", on_delete=models.CASCADE, null=True, blank=True, related_name="messages"
    )
    to_address = models.EmailField()
    language = models.CharField(max_length=5, default="en")
    due_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=MessageStatus.choices, default=MessageStatus.PENDING)
    # When the sweep last queued a send task: a lost doorbell is rung again after a while.
    dispatched_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    # The send task (its id, the same for its retries) holding the claim: a retry takes back its own.
    claimed_by = models.CharField(max_length=64, blank=True, default="")
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    dedupe_key = models.CharField(max_length=80, unique=True)

    class Meta:
        ordering = ["due_at", "id"]
        indexes = [
            models.Index(fields=["status", "due_at"], name="followup_msg_status_due"),
            models.Index(fields=["status", "claimed_at"], name="followup_msg_status_claimed"),
        ]

    def __str__(self) -> str:
        # No address: str() ends up in logs.
        return f"{self.kind} #{self.pk} ({self.status})"


class ResponseSource(models.TextChoices):
    LINK = "link", _("Emailed link")
    PHONE = "phone", _("Phone")
    PAPER = "paper", _("Paper")
    CLINIC = "clinic", _("Clinic visit")


class SurveyResponse(TimeStampedModel):
    """One completed survey; scores come from scoring.py and are stored with the raw answers."""

    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="survey_responses")
    procedure = models.ForeignKey(
        "procedures.Procedure", on_delete=models.PROTECT, null=True, blank=True, related_name="survey_responses"
    )
    event = models.OneToOneField(
        FollowUpEvent, on_delete=models.PROTECT, null=True, blank=True, related_name="response"
    )
    event_code = models.SlugField(max_length=30)
    source = models.CharField(max_length=8, choices=ResponseSource.choices)
    collected_on = models.DateField()
    language = models.CharField(max_length=5, default="en")
    vas = models.DecimalField(
        "VAS", max_digits=3, decimal_places=1, null=True, blank=True, validators=[MaxValueValidator(10)]
    )
    odi_answers = models.JSONField(default=dict, blank=True)
    odi_percent = models.DecimalField("ODI %", max_digits=4, decimal_places=1, null=True, blank=True)
    odi_answered = models.PositiveSmallIntegerField(default=0)
    odi_complete = models.BooleanField(default=False)
    # Only the ODI total was kept (legacy records): odi_percent without section answers.
    odi_total_only = models.BooleanField("ODI total only", default=False)
    karnofsky = models.PositiveSmallIntegerField(null=True, blank=True)
    red_flag_answers = models.JSONField(default=dict, blank=True)
    red_flags = models.JSONField(default=list, blank=True)
    new_fracture = models.BooleanField(null=True, blank=True)
    osteoporosis_therapy_taken = models.BooleanField(null=True, blank=True)
    analgesic_use = models.CharField(max_length=16, blank=True)
    # The option codes as answered (e.g. "not_prescribed"), which the booleans above summarise.
    followup_answers = models.JSONField(default=dict, blank=True)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    submitted_at = models.DateTimeField()

    history = audited()

    class Meta:
        ordering = ["patient", "collected_on", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(vas__isnull=True) | Q(vas__gte=0, vas__lte=10), name="response_vas_range"
            ),
            models.CheckConstraint(
                condition=Q(odi_percent__isnull=True) | Q(odi_percent__gte=0, odi_percent__lte=100),
                name="response_odi_range",
            ),
            models.CheckConstraint(
                condition=Q(odi_total_only=False) | Q(odi_answered=0, odi_percent__isnull=False),
                name="response_odi_total_only_has_no_sections",
            ),
            models.CheckConstraint(
                condition=Q(karnofsky__isnull=True) | Q(karnofsky__in=tuple(range(0, 101, 10))),
                name="response_karnofsky_steps",
            ),
        ]
        indexes = [models.Index(fields=["event_code", "collected_on"], name="followup_resp_code_date")]

    def __str__(self) -> str:
        return f"{self.event_code} response {self.pk}"


class WorklistKind(models.TextChoices):
    PHONE_DUE = "phone_due", _("Call due (no email)")
    MISSED_EVENT = "missed_event", _("Missed survey: call")
    BONE_HEALTH = "bone_health", _("Bone-health action")
    FAILED_EMAIL = "failed_email", _("Email failed")
    RED_FLAG = "red_flag", _("Red flag reported")
    OPTED_OUT = "opted_out", _("Patient stopped emails")
    WITHDRAWN = "withdrawn", _("Patient withdrew")
    CONFIRM_FRACTURE = "confirm_fracture", _("Confirm new fracture")

    @classmethod
    def calls(cls) -> tuple[str, ...]:
        return (cls.PHONE_DUE, cls.MISSED_EVENT)


class WorklistStatus(models.TextChoices):
    OPEN = "open", _("Open")
    DONE = "done", _("Done")


class WorklistItem(TimeStampedModel):
    site = models.ForeignKey("patients.Site", on_delete=models.PROTECT, related_name="worklist_items")
    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="worklist_items")
    kind = models.CharField(max_length=16, choices=WorklistKind.choices)
    event = models.ForeignKey(FollowUpEvent, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    bone_health_action = models.ForeignKey(
        "patients.BoneHealthAction", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    message = models.ForeignKey(OutboundMessage, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    response = models.ForeignKey(SurveyResponse, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    status = models.CharField(max_length=5, choices=WorklistStatus.choices, default=WorklistStatus.OPEN)
    due_on = models.DateField()
    note = bounded_text(blank=True)
    # Who at the site is taking care of it; anyone with data-entry rights at the site may take it.
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    done_at = models.DateTimeField(null=True, blank=True)

    history = audited()

    class Meta:
        ordering = ["due_on", "id"]
        constraints = [
            bounded_text_constraint("note", name="worklist_note_length"),
            # One open item per source: a second sweep or a retried task cannot add a copy.
            models.UniqueConstraint(
                fields=["event", "kind"],
                condition=Q(status="open", event__isnull=False),
                name="worklist_open_once_per_event",
            ),
            models.UniqueConstraint(
                fields=["bone_health_action"],
                condition=Q(status="open", bone_health_action__isnull=False),
                name="worklist_open_once_per_bone_action",
            ),
            models.UniqueConstraint(
                fields=["message"], condition=Q(status="open", message__isnull=False), name="worklist_open_once_per_msg"
            ),
            models.UniqueConstraint(
                fields=["response", "kind"],
                condition=Q(status="open", response__isnull=False),
                name="worklist_open_once_per_response",
            ),
            models.UniqueConstraint(
                fields=["patient", "kind"],
                condition=Q(status="open", kind__in=["opted_out", "withdrawn"]),
                name="worklist_open_once_per_patient_notice",
            ),
        ]
        indexes = [models.Index(fields=["site", "status", "due_on"], name="followup_wl_site_status_due")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.status})"


class StaffMailKind(models.TextChoices):
    """The staff emails a user may choose to receive (``StaffMailPreference``)."""

    RED_FLAG_ALERT = "red_flag_alert", _("Red-flag alerts (sent at once)")
    OPT_OUT_NOTICE = "opt_out_notice", _("A patient stopped emails")
    DAILY_DIGEST = "daily_digest", _("Daily digest of due actions")


class StaffMailPreference(TimeStampedModel):
    """Which staff emails one user receives, and in which language.

    A user without a row gets the defaults of their role (``registry.access.STAFF_MAIL_DEFAULT_ROLES``).
    The site mailboxes (``Site.contact_email``, ``clinician_email``) receive every kind regardless.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_mail")
    language = models.CharField(_("language"), max_length=5, choices=Language.choices, default=Language.ENGLISH)
    red_flag_alert = models.BooleanField(StaffMailKind.RED_FLAG_ALERT.label, default=True)
    opt_out_notice = models.BooleanField(StaffMailKind.OPT_OUT_NOTICE.label, default=True)
    daily_digest = models.BooleanField(StaffMailKind.DAILY_DIGEST.label, default=True)

    class Meta:
        ordering = ["user"]

    def __str__(self) -> str:
        return f"Staff mail of user {self.user_id}"

    def receives(self, kind: str) -> bool:
        return getattr(self, StaffMailKind(kind).value)


class SweepCursor(models.Model):
    """Where a sweep step that walks a whole table in slices stopped, so the next sweep carries on.

    Not clinical data (no history): losing a row only means starting the walk again from the start.
    """

    name = models.CharField(max_length=40, unique=True)
    position = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} @ {self.position}"
