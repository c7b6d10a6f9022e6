"""What was imported and exported, by whom and when: the audit of bulk movements of case data.

The rows themselves are audited by simple-history (every imported record has a "created" history
row under the importing user); these tables record the file as a whole. The uploaded file is never
kept: ``ImportBatch.file`` holds the rows parsed at upload (PHI) only while a preview waits for
its commit, and is deleted at the commit or after ``IMPORT_RETENTION_DAYS``; summaries hold counts.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from registry.core.audit import audited
from registry.core.models import TimeStampedModel


class ImportStatus(models.TextChoices):
    PREVIEWED = "previewed", _("Previewed (nothing written)")
    COMMITTED = "committed", _("Committed")
    REJECTED = "rejected", _("Rejected (errors)")


class ImportBatch(TimeStampedModel):
    site = models.ForeignKey("patients.Site", on_delete=models.PROTECT, related_name="import_batches")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # The parsed rows (gzip JSON) of a previewed file without errors; empty once committed or purged.
    file = models.FileField(upload_to="imports/%Y/%m/", blank=True)
    file_format = models.CharField(max_length=4)
    sha256 = models.CharField(max_length=64, db_index=True)
    status = models.CharField(max_length=10, choices=ImportStatus.choices, default=ImportStatus.PREVIEWED)
    rows = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    summary = models.JSONField(default=dict, blank=True, help_text=_("Counts only."))
    committed_at = models.DateTimeField(null=True, blank=True)
    # Imported procedures whose follow-up is still to be planned (after commit, in the worker).
    followup_pending = models.JSONField(default=list, blank=True)
    followup_planned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Import {self.pk} at {self.site_id} ({self.status})"


class ImportMapping(TimeStampedModel):
    """A department's columns and codes mapped onto the template (``imports/mapping.py``), per site."""

    site = models.ForeignKey("patients.Site", on_delete=models.PROTECT, related_name="import_mappings")
    name = models.CharField(max_length=80)
    # File header -> template column ("" leaves the column out).
    columns = models.JSONField(default=dict)
    # Template column -> {file code: vocabulary code}.
    codes = models.JSONField(default=dict, blank=True)
    date_format = models.CharField(max_length=20, blank=True)
    # A column whose first row's patient and procedure values fill the record's later rows.
    record_column = models.CharField(max_length=100, blank=True)
    saved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    history = audited()

    class Meta:
        ordering = ["site", "name"]
        constraints = [models.UniqueConstraint(fields=["site", "name"], name="import_mapping_name_per_site")]

    def __str__(self) -> str:
        return f"{self.name} ({self.site_id})"


class ExportLog(models.Model):
    """One identified export: who took which site's data, in which format, when."""

    site = models.ForeignKey("patients.Site", on_delete=models.PROTECT, related_name="export_logs")
    exported_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    exported_at = models.DateTimeField(auto_now_add=True)
    file_format = models.CharField(max_length=4)
    what = models.CharField(max_length=200)
    rows = models.PositiveIntegerField(default=0)
    patients = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-exported_at", "-id"]

    def __str__(self) -> str:
        return f"Export {self.pk} of site {self.site_id} by {self.exported_by_id} at {self.exported_at:%Y-%m-%d %H:%M}"
