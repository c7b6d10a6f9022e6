"""Sufficient statistics of the reports (issue #14), kept in PostgreSQL per partition.

A partition is one site and one month of procedure (``performed_month``, its first day). Every
row below belongs to one partition; ``registry.rollups.services.rollups_refresh`` rewrites a
partition's rows from the clinical tables in one statement per table, and nothing else writes
them. Which partitions need it is in ``StalePartition``, filled by database triggers (migration
0002) on every write to procedures and survey responses, whatever wrote them (services, imports,
``bulk_create``, ``update()``, raw SQL), so no write path can forget to mark.

Exact units (``reports.metrics.MEASURE_SCALES``): VAS in tenths, ODI in ninetieths of a percent,
so every sum is an integer and means, SDs and intervals come out of ``reports.stats.summary_from_sums``
exactly as on the full path.

As of a date (issue #10 item 4): an answer is known from the day it was both collected and
submitted (``known_on``) and stops being the procedure's answer for its event the day a later
answer to the same event becomes known (``superseded_on``, empty while it is the latest). Rows
are keyed by the months of those two days and carry the days' bounds, so a report as of the end of
a month (every quarterly report) sums whole rows; as of a day inside a month, the bounds tell
whether every row of that month falls on one side, and if not the report takes the full path.
A correction of an old period (an answer edited, deleted or added late, a procedure moved to
another type or date) marks the partitions of the old and the new values stale; the refresh
rewrites them, so a report built afterwards shows the corrected figures for every as-of date
(the audit trail, not the rollups, says what an earlier build showed).
"""

from __future__ import annotations

from django.db import models


class StalePartition(models.Model):
    """A partition whose rollups no longer match the clinical tables. Written by the triggers;
    claimed and deleted by the refresh (``select_for_update(skip_locked=True)``)."""

    site_id = models.BigIntegerField()
    performed_month = models.DateField()
    marked_at = models.DateTimeField()

    class Meta:
        ordering = ["performed_month", "site_id"]
        constraints = [
            models.UniqueConstraint(fields=["site_id", "performed_month"], name="rollups_stale_partition_unique")
        ]

    def __str__(self) -> str:
        return f"site {self.site_id}, {self.performed_month:%Y-%m}: stale since {self.marked_at:%Y-%m-%d %H:%M}"


class ProcedureRollup(models.Model):
    """Procedures per partition, type and indication, with the span of their dates (a filter on
    a day inside a month is answered only if the month's procedures fall on one side of it)."""

    site_id = models.BigIntegerField()
    performed_month = models.DateField()
    procedure_type = models.CharField(max_length=5)
    indication = models.CharField(max_length=20)
    procedures = models.IntegerField()
    first_performed_on = models.DateField()
    last_performed_on = models.DateField()

    class Meta:
        ordering = ["performed_month", "site_id", "procedure_type", "indication"]
        constraints = [
            models.UniqueConstraint(
                fields=["site_id", "performed_month", "procedure_type", "indication"],
                name="rollups_procedure_rollup_unique",
            )
        ]

    def __str__(self) -> str:
        return f"site {self.site_id}, {self.performed_month:%Y-%m}, {self.procedure_type} {self.indication}"


class AnswerKind(models.TextChoices):
    SCORE = "score", "Score at the event"
    CHANGE = "change", "Paired change from baseline"


class OutcomeRollup(models.Model):
    """VAS and ODI sums of one group (partition x type x indication x event) over the answers (or
    the baseline / follow-up pairs) known in ``known_month`` and superseded in ``superseded_month``.

    ``kind`` score: ``answers`` counts the latest answers, ``*_n``... sum the scores present.
    ``kind`` change: follow-up minus baseline over the pairs with both scores, and ``*_improved``
    the pairs with a clinically important improvement (``registry.followup.scoring``).
    """

    site_id = models.BigIntegerField()
    performed_month = models.DateField()
    procedure_type = models.CharField(max_length=5)
    indication = models.CharField(max_length=20)
    event_code = models.CharField(max_length=30)
    kind = models.CharField(max_length=6, choices=AnswerKind.choices)
    known_month = models.DateField()
    superseded_month = models.DateField(null=True)
    first_known_on = models.DateField()
    last_known_on = models.DateField()
    first_superseded_on = models.DateField(null=True)
    last_superseded_on = models.DateField(null=True)
    first_performed_on = models.DateField()
    last_performed_on = models.DateField()
    answers = models.IntegerField()
    vas_n = models.IntegerField()
    vas_sum = models.BigIntegerField()
    vas_squares = models.BigIntegerField()
    vas_min = models.IntegerField(null=True)
    vas_max = models.IntegerField(null=True)
    vas_improved = models.IntegerField()
    odi_n = models.IntegerField()
    odi_sum = models.BigIntegerField()
    odi_squares = models.BigIntegerField()
    odi_min = models.IntegerField(null=True)
    odi_max = models.IntegerField(null=True)
    odi_improved = models.IntegerField()

    class Meta:
        ordering = ["performed_month", "site_id", "event_code"]
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "site_id", "performed_month", "procedure_type", "indication", "event_code", "kind",
                    "known_month", "superseded_month",
                ],
                name="rollups_outcome_rollup_unique",
                nulls_distinct=False,
            )
        ]  # fmt: skip
        indexes = [models.Index(fields=["site_id", "performed_month"], name="rollups_outcome_partition")]

    def __str__(self) -> str:
        return f"site {self.site_id}, {self.performed_month:%Y-%m}, {self.event_code} {self.kind}"
