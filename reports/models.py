"""Quarterly reports (immutable, versioned artifacts) and the research-export audit log."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from registry.core.models import TimeStampedModel


class QuarterlyReport(TimeStampedModel):
    """One build of a quarter's report for a site, or for the whole registry (site empty).

    The beat task builds version 1 once; an administrator's rebuild adds version 2, 3, ...
    and keeps the earlier ones. Content columns never change after the insert: a database
    trigger refuses the update (migration 0002), only ``notified_at`` may be set.
    """

    site = models.ForeignKey(
        "patients.Site", on_delete=models.PROTECT, null=True, blank=True, related_name="quarterly_reports"
    )
    year = models.PositiveSmallIntegerField(validators=[MinValueValidator(2000), MaxValueValidator(2100)])
    quarter = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(4)])
    version = models.PositiveSmallIntegerField(default=1)
    period_start = models.DateField()
    period_end = models.DateField()
    built_at = models.DateTimeField()
    built_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    html = models.TextField()
    pdf = models.BinaryField()
    xlsx = models.BinaryField()
    # When the site's reviewers were told (claimed before sending, so a retry sends once).
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-year", "-quarter", "site__code", "-version"]
        constraints = [
            # Two partial constraints rather than one: PostgreSQL treats NULL sites as distinct,
            # which would let the whole-registry report exist twice.
            models.UniqueConstraint(
                fields=["site", "year", "quarter", "version"],
                condition=Q(site__isnull=False),
                name="quarterly_report_one_version_per_site",
            ),
            models.UniqueConstraint(
                fields=["year", "quarter", "version"],
                condition=Q(site__isnull=True),
                name="quarterly_report_one_version_registry",
            ),
            models.CheckConstraint(condition=Q(quarter__gte=1, quarter__lte=4), name="quarterly_report_quarter_1_4"),
            models.CheckConstraint(condition=Q(version__gte=1), name="quarterly_report_version_positive"),
        ]

    def __str__(self) -> str:
        scope = self.site.code if self.site_id else "Registry"
        return f"{scope} {self.year} Q{self.quarter} v{self.version}"

    @property
    def scope_label(self) -> str:
        return self.site.code if self.site_id else "Whole registry"


class ExportFormat(models.TextChoices):
    CSV = "csv", "CSV (zip)"
    XLSX = "xlsx", "XLSX"


class ExportLog(models.Model):
    """Who exported which de-identified cohort, when: one row per download."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    file_format = models.CharField(max_length=4, choices=ExportFormat.choices)
    site_codes = models.JSONField(default=list)
    filters = models.JSONField(default=dict)
    row_counts = models.JSONField(default=dict)
    sha256 = models.CharField(max_length=64)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Export {self.pk} by {self.user_id} at {self.created_at:%Y-%m-%d %H:%M}"


class MonitoredMeasure(models.TextChoices):
    LEAK_PER_LEVEL = "leak_per_level", "Cement leak per treated level"
    SYMPTOMATIC_COMPLICATION = "symptomatic_complication", "Symptomatic complication per procedure"
    ADJACENT_FRACTURE = "adjacent_fracture_12m", "New adjacent fracture per patient within 12 months"


class MonitoringSignal(TimeStampedModel):
    """A site's CUSUM crossed its decision limit at one observation: alerted once.

    ``observation`` names the observation at which the CUSUM crossed (e.g. "level:812"), so that
    a recomputation finds the same signal and the unique constraint keeps one row (one alert).
    """

    site = models.ForeignKey("patients.Site", on_delete=models.CASCADE, related_name="monitoring_signals")
    measure = models.CharField(max_length=24, choices=MonitoredMeasure.choices)
    observation = models.CharField(max_length=40)
    observed_on = models.DateField()
    cusum = models.DecimalField(max_digits=8, decimal_places=3)
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-observed_on", "id"]
        constraints = [
            models.UniqueConstraint(fields=["site", "measure", "observation"], name="monitoring_signal_once"),
        ]

    def __str__(self) -> str:
        return f"{self.measure} signal at site {self.site_id} on {self.observed_on}"
