"""The only writer of the rollups: refresh the partitions the triggers marked stale.

A refresh claims a batch of markers (``FOR UPDATE SKIP LOCKED``: a marker whose writer has not
committed yet, or that another refresh holds, waits for the next round), deletes the batch's
rollup rows and recomputes them with one INSERT ... SELECT per rollup table, in one transaction.
Running it twice, or two at once, changes nothing: the database is the truth, the task only the
doorbell. Tasks and reports call ``rollups_refresh``; nothing else writes the rollup tables.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction

from registry.followup.scoring import (
    ODI_CLINICALLY_IMPORTANT_POINTS,
    VAS_CLINICALLY_IMPORTANT_FRACTION,
    VAS_CLINICALLY_IMPORTANT_POINTS,
)
from reports.metrics import MEASURE_SCALES

# Partitions per transaction. A writer whose partition is in a batch being refreshed waits for its
# marker until the batch commits, so batches stay small: 20 site-months took ~0.6 s at 20,000
# patients (BENCHMARKS.md), a survey submission never waits long behind a rebuild.
REFRESH_BATCH = 20

CLAIM = """
DELETE FROM rollups_stalepartition WHERE id IN (
    SELECT id FROM rollups_stalepartition
    WHERE %(all_sites)s OR site_id = ANY(%(site_ids)s)
    ORDER BY performed_month, site_id
    LIMIT %(batch)s
    FOR UPDATE SKIP LOCKED
)
RETURNING site_id, performed_month
"""
CLAIMED = "unnest(%(sites)s::bigint[], %(months)s::date[]) AS claimed(site_id, performed_month)"
DELETE_ROWS = """
DELETE FROM {table} AS r USING {claimed}
WHERE r.site_id = claimed.site_id AND r.performed_month = claimed.performed_month
"""
PROCEDURES_OF_CLAIMED = f"""
SELECT p.id, p.site_id, claimed.performed_month, p.procedure_type, p.indication, p.performed_on
FROM procedures_procedure AS p JOIN {CLAIMED}
  ON p.site_id = claimed.site_id
 AND p.performed_on >= claimed.performed_month
 AND p.performed_on < claimed.performed_month + interval '1 month'
"""  # noqa: S608 - constant fragments, values bound
INSERT_PROCEDURES = f"""
INSERT INTO rollups_procedurerollup
    (site_id, performed_month, procedure_type, indication, procedures, first_performed_on, last_performed_on)
SELECT site_id, performed_month, procedure_type, indication, count(*), min(performed_on), max(performed_on)
FROM ({PROCEDURES_OF_CLAIMED}) AS procs
GROUP BY site_id, performed_month, procedure_type, indication
"""  # noqa: S608 - constant fragments, values bound
# Answers as the reports read them (reports.loaders, reports.metrics): the exact ODI from the
# section answers where they are there, else the stored percent; known from the day the answer was
# both collected and submitted (in the registry's zone); the latest by (collected_on, id) known on
# a day is the procedure's answer for that event, so an answer stops counting the day a
# higher-ranked one becomes known (``superseded_on``). Versions superseded before they were known
# never count and are dropped.
INSERT_OUTCOMES = f"""
WITH procs AS ({PROCEDURES_OF_CLAIMED}),
responses AS (
    SELECT r.id, r.procedure_id, r.event_code, r.collected_on,
           GREATEST(r.collected_on, (r.submitted_at AT TIME ZONE %(zone)s)::date) AS known_on,
           round(r.vas * %(vas_scale)s)::int AS vas,
           CASE WHEN r.odi_percent IS NULL THEN NULL
                WHEN points.total IS NOT NULL AND r.odi_answered > 0
                    THEN round(20.0 * %(odi_scale)s * points.total / r.odi_answered)::int
                ELSE round(r.odi_percent * %(odi_scale)s)::int END AS odi
    FROM followup_surveyresponse AS r
    JOIN procs ON procs.id = r.procedure_id
    CROSS JOIN LATERAL (
        SELECT sum((answer.value)::int) AS total FROM jsonb_each(r.odi_answers) AS answer
        WHERE jsonb_typeof(answer.value) = 'number'
    ) AS points
),
versions AS (
    SELECT * FROM (
        SELECT responses.*, min(known_on) OVER (
            PARTITION BY procedure_id, event_code ORDER BY collected_on DESC, id DESC
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ) AS superseded_on
        FROM responses
    ) AS ranked
    WHERE superseded_on IS NULL OR superseded_on > known_on
),
scores AS (
    SELECT procedure_id, event_code, 'score' AS kind, known_on, superseded_on,
           vas, odi, 0 AS vas_improved, 0 AS odi_improved
    FROM versions
),
changes AS (
    SELECT follow_up.procedure_id, follow_up.event_code, 'change' AS kind,
           GREATEST(follow_up.known_on, baseline.known_on) AS known_on,
           LEAST(follow_up.superseded_on, baseline.superseded_on) AS superseded_on,  -- NULL: never
           follow_up.vas - baseline.vas AS vas,
           follow_up.odi - baseline.odi AS odi,
           -- registry.followup.scoring.vas_clinically_important / odi_clinically_important in
           -- exact units (tests/reports/test_rollups.py checks every pair against them).
           CASE WHEN baseline.vas - follow_up.vas > 0
                 AND (baseline.vas - follow_up.vas >= %(vas_points)s
                      OR %(vas_fraction_den)s * (baseline.vas - follow_up.vas)
                         >= %(vas_fraction_num)s * baseline.vas) THEN 1 ELSE 0 END AS vas_improved,
           CASE WHEN baseline.odi - follow_up.odi >= %(odi_points)s THEN 1 ELSE 0 END AS odi_improved
    FROM versions AS follow_up
    JOIN versions AS baseline
      ON baseline.procedure_id = follow_up.procedure_id AND baseline.event_code = 'baseline'
    WHERE follow_up.event_code <> 'baseline'
      AND (LEAST(follow_up.superseded_on, baseline.superseded_on) IS NULL
           OR LEAST(follow_up.superseded_on, baseline.superseded_on)
              > GREATEST(follow_up.known_on, baseline.known_on))
),
facts AS (SELECT * FROM scores UNION ALL SELECT * FROM changes)
INSERT INTO rollups_outcomerollup (
    site_id, performed_month, procedure_type, indication, event_code, kind,
    known_month, superseded_month, first_known_on, last_known_on, first_superseded_on, last_superseded_on,
    first_performed_on, last_performed_on, answers,
    vas_n, vas_sum, vas_squares, vas_min, vas_max, vas_improved,
    odi_n, odi_sum, odi_squares, odi_min, odi_max, odi_improved
)
SELECT procs.site_id, procs.performed_month, procs.procedure_type, procs.indication, facts.event_code, facts.kind,
       date_trunc('month', facts.known_on)::date, date_trunc('month', facts.superseded_on)::date,
       min(facts.known_on), max(facts.known_on), min(facts.superseded_on), max(facts.superseded_on),
       min(procs.performed_on), max(procs.performed_on), count(*),
       count(facts.vas), coalesce(sum(facts.vas), 0), coalesce(sum(facts.vas::bigint * facts.vas), 0),
       min(facts.vas), max(facts.vas), coalesce(sum(facts.vas_improved) FILTER (WHERE facts.vas IS NOT NULL), 0),
       count(facts.odi), coalesce(sum(facts.odi), 0), coalesce(sum(facts.odi::bigint * facts.odi), 0),
       min(facts.odi), max(facts.odi), coalesce(sum(facts.odi_improved) FILTER (WHERE facts.odi IS NOT NULL), 0)
FROM facts JOIN procs ON procs.id = facts.procedure_id
GROUP BY procs.site_id, procs.performed_month, procs.procedure_type, procs.indication, facts.event_code,
         facts.kind, date_trunc('month', facts.known_on), date_trunc('month', facts.superseded_on)
"""  # noqa: S608 - constant fragments, values bound


def improvement_rule_units() -> dict[str, int]:
    """The clinically important improvements of ``registry.followup.scoring`` in exact units."""
    vas_scale, odi_scale = MEASURE_SCALES["vas"], MEASURE_SCALES["odi"]
    numerator, denominator = Decimal(VAS_CLINICALLY_IMPORTANT_FRACTION).as_integer_ratio()
    return {
        "vas_scale": vas_scale,
        "odi_scale": odi_scale,
        "vas_points": int(Decimal(VAS_CLINICALLY_IMPORTANT_POINTS) * vas_scale),
        "vas_fraction_num": numerator,
        "vas_fraction_den": denominator,
        "odi_points": int(Decimal(ODI_CLINICALLY_IMPORTANT_POINTS) * odi_scale),
    }


MARK_ALL = """
INSERT INTO rollups_stalepartition (site_id, performed_month, marked_at)
SELECT DISTINCT site_id, date_trunc('month', performed_on)::date, now() FROM procedures_procedure
ON CONFLICT (site_id, performed_month) DO UPDATE SET marked_at = EXCLUDED.marked_at
"""


def rollups_mark_all() -> int:
    """Mark every partition that has procedures stale (``manage.py rollups_rebuild``)."""
    if not rollups_supported():
        return 0
    with connection.cursor() as cursor:
        cursor.execute(MARK_ALL)
        return cursor.rowcount


def rollups_supported() -> bool:
    return connection.vendor == "postgresql"


def rollups_refresh(*, site_ids: list[int] | tuple[int, ...] | None = None, batch: int = REFRESH_BATCH) -> int:
    """Recompute every stale partition (of ``site_ids``, or of all sites); returns how many.

    Batches of ``batch`` partitions, each in its own transaction, until none is left that this
    call can claim (markers held by an uncommitted writer or another refresh are left to them).
    """
    if not rollups_supported():
        return 0
    refreshed = 0
    parameters = {**improvement_rule_units(), "zone": settings.TIME_ZONE}
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(CLAIM, {"all_sites": site_ids is None, "site_ids": list(site_ids or []), "batch": batch})
            claimed = cursor.fetchall()
            if not claimed:
                return refreshed
            partition = {"sites": [site for site, _ in claimed], "months": [month for _, month in claimed]}
            for table in ("rollups_procedurerollup", "rollups_outcomerollup"):
                cursor.execute(DELETE_ROWS.format(table=table, claimed=CLAIMED), partition)
            cursor.execute(INSERT_PROCEDURES, partition)
            cursor.execute(INSERT_OUTCOMES, {**partition, **parameters})
        refreshed += len(claimed)
        if len(claimed) < batch:
            return refreshed
