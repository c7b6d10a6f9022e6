from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.db import models
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# Free text (notes, descriptions): a page of writing, never a megabyte pasted or posted.
FREE_TEXT_MAX_LENGTH = 4000


def bounded_text(**kwargs) -> models.TextField:
    """A free-text field bounded in forms and serializers (max_length), the model and the database."""
    return models.TextField(
        max_length=FREE_TEXT_MAX_LENGTH, validators=[MaxLengthValidator(FREE_TEXT_MAX_LENGTH)], **kwargs
    )


def check_free_text(value: str, *, field: str) -> str:
    """For services that write free text without ``full_clean``: the same bound, as a field error."""
    value = (value or "").strip()
    if len(value) > FREE_TEXT_MAX_LENGTH:
        raise ValidationError({field: _("Keep this to %(max)s characters.") % {"max": FREE_TEXT_MAX_LENGTH}})
    return value


def bounded_text_constraint(field: str, *, name: str) -> models.CheckConstraint:
    return models.CheckConstraint(condition=LessThanOrEqual(Length(field), FREE_TEXT_MAX_LENGTH), name=name)


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class Heartbeat(models.Model):
    """Written by the worker's health task: proof that a queued task ran and reached the database."""

    source = models.CharField(max_length=50, unique=True)
    beat_at = models.DateTimeField()
    runs = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.source} @ {self.beat_at:%Y-%m-%d %H:%M:%S}"


class AccessKind(models.TextChoices):
    """What identified data someone looked at or took away (the access log's vocabulary)."""

    CASE_LIST = "case_list", _("Case list viewed")
    PATIENT_PAGE = "patient_page", _("Patient page viewed")
    PROCEDURE_PAGE = "procedure_page", _("Procedure page viewed")
    LOT_RECALL = "lot_recall", _("Lot recall list viewed")
    LOT_RECALL_EXPORT = "lot_recall_export", _("Lot recall list exported")
    IDENTIFIED_EXPORT = "identified_export", _("Identified export of a site")
    RESEARCH_EXPORT = "research_export", _("De-identified research export")
    API_LIST = "api_list", _("API list read")
    API_RECORD = "api_record", _("API record read")


class AccessLogEntry(models.Model):
    """Who viewed or exported identified data, what, when and of which site.

    Internal ids only (the record's primary key, the site): never a name, MRN or study id, so that
    the log can be read by administrators and kept as long as the registry. Append-only in the
    database, like the history tables.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    accessed_at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=20, choices=AccessKind.choices)
    # The site whose data it was; empty when the page or file spans several sites.
    site = models.ForeignKey("patients.Site", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    # The record looked at ("patients.patient" 12, or an API resource), empty for lists.
    record_type = models.CharField(max_length=40, blank=True)
    record_id = models.PositiveBigIntegerField(null=True, blank=True)
    # How many records the page, answer or file held, when it is a list.
    rows = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-accessed_at", "-id"]
        verbose_name = _("access log entry")
        verbose_name_plural = _("access log")
        indexes = [
            models.Index(fields=["user", "accessed_at"], name="core_access_user_at"),
            models.Index(fields=["record_type", "record_id"], name="core_access_record"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} by {self.user_id} at {self.accessed_at:%Y-%m-%d %H:%M}"
