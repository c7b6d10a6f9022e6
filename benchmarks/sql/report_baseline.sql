-- The headline figures of a quarterly report, computed in plain SQL: the same-run baseline of
-- benchmarks/run_scale.py (issue #14). Per site and for the whole registry (GROUPING SETS), over
-- procedures performed up to %(end)s (and from %(performed_from)s, of a type and indication
-- when given), as known on %(end)s: answers collected and submitted by
-- then, deaths recorded by then. Exact: counts are integers, sums are numeric (VAS has one
-- decimal, ODI is an even whole percent); means and rates are left as sums over counts.
-- The paired changes use each procedure's latest answer per event (as reports.loaders does).
WITH cohort AS (
    SELECT p.id, p.patient_id, p.site_id, p.procedure_type, p.indication
    FROM procedures_procedure p
    WHERE p.performed_on <= %(end)s
      AND (%(site_ids)s::bigint[] IS NULL OR p.site_id = ANY(%(site_ids)s::bigint[]))
      AND (%(performed_from)s::date IS NULL OR p.performed_on >= %(performed_from)s::date)
      AND (%(procedure_type)s::text = '' OR p.procedure_type = %(procedure_type)s::text)
      AND (%(indication)s::text = '' OR p.indication = %(indication)s::text)
),
levels AS (
    SELECT l.procedure_id, count(*) AS levels,
           count(*) FILTER (WHERE EXISTS (SELECT 1 FROM procedures_cementleak k WHERE k.treated_level_id = l.id))
               AS levels_with_leak
    FROM procedures_treatedlevel l JOIN cohort c ON c.id = l.procedure_id
    GROUP BY l.procedure_id
),
complications AS (
    SELECT x.procedure_id, count(*) AS complications
    FROM procedures_complication x JOIN cohort c ON c.id = x.procedure_id
    GROUP BY x.procedure_id
),
answers AS (
    SELECT DISTINCT ON (r.procedure_id, r.event_code) r.procedure_id, r.event_code, r.vas, r.odi_percent
    FROM followup_surveyresponse r JOIN cohort c ON c.id = r.procedure_id
    WHERE r.collected_on <= %(end)s AND r.submitted_at < (%(end)s::date + 1)::timestamptz
    ORDER BY r.procedure_id, r.event_code, r.collected_on DESC, r.id DESC
),
paired AS (
    SELECT b.procedure_id, f.event_code,
           f.vas - b.vas AS vas_change, f.odi_percent - b.odi_percent AS odi_change
    FROM answers b JOIN answers f ON f.procedure_id = b.procedure_id
    WHERE b.event_code = 'baseline' AND f.event_code IN ('m3', 'm12')
      AND b.vas IS NOT NULL AND f.vas IS NOT NULL
),
events AS (
    SELECT e.procedure_id,
           count(*) FILTER (WHERE e.event_code = 'm3' AND e.window_closes_on <= %(end)s) AS m3_due,
           count(*) FILTER (WHERE e.event_code = 'm3' AND e.window_closes_on <= %(end)s AND e.status = 'completed')
               AS m3_completed,
           count(*) FILTER (WHERE e.event_code = 'm12' AND e.window_closes_on <= %(end)s) AS m12_due,
           count(*) FILTER (WHERE e.event_code = 'm12' AND e.window_closes_on <= %(end)s AND e.status = 'completed')
               AS m12_completed
    FROM followup_followupevent e JOIN cohort c ON c.id = e.procedure_id
    GROUP BY e.procedure_id
),
per_procedure AS (
    SELECT c.*, coalesce(l.levels, 0) AS levels, coalesce(l.levels_with_leak, 0) AS levels_with_leak,
           coalesce(x.complications, 0) AS complications,
           coalesce(ev.m3_due, 0) AS m3_due, coalesce(ev.m3_completed, 0) AS m3_completed,
           coalesce(ev.m12_due, 0) AS m12_due, coalesce(ev.m12_completed, 0) AS m12_completed,
           b.vas AS baseline_vas, b.odi_percent AS baseline_odi,
           m3.vas_change AS m3_vas_change, m3.odi_change AS m3_odi_change,
           m12.vas_change AS m12_vas_change, m12.odi_change AS m12_odi_change
    FROM cohort c
    LEFT JOIN levels l ON l.procedure_id = c.id
    LEFT JOIN complications x ON x.procedure_id = c.id
    LEFT JOIN events ev ON ev.procedure_id = c.id
    LEFT JOIN answers b ON b.procedure_id = c.id AND b.event_code = 'baseline'
    LEFT JOIN paired m3 ON m3.procedure_id = c.id AND m3.event_code = 'm3'
    LEFT JOIN paired m12 ON m12.procedure_id = c.id AND m12.event_code = 'm12'
)
SELECT site_id,
       count(DISTINCT patient_id) AS patients,
       count(*) AS procedures,
       count(*) FILTER (WHERE procedure_type = 'PVP') AS pvp,
       count(*) FILTER (WHERE procedure_type = 'PKP') AS pkp,
       count(*) FILTER (WHERE indication = 'osteoporotic') AS osteoporotic,
       sum(levels) AS levels,
       sum(levels_with_leak) AS levels_with_leak,
       sum(complications) AS complications,
       count(baseline_vas) AS baseline_vas_n, sum(baseline_vas) AS baseline_vas_sum,
       sum(baseline_vas * baseline_vas) AS baseline_vas_sumsq,
       count(baseline_odi) AS baseline_odi_n, sum(baseline_odi) AS baseline_odi_sum,
       count(m3_vas_change) AS m3_paired_n, sum(m3_vas_change) AS m3_vas_change_sum,
       sum(m3_odi_change) AS m3_odi_change_sum,
       count(m12_vas_change) AS m12_paired_n, sum(m12_vas_change) AS m12_vas_change_sum,
       sum(m12_odi_change) AS m12_odi_change_sum,
       sum(m3_due) AS m3_due, sum(m3_completed) AS m3_completed,
       sum(m12_due) AS m12_due, sum(m12_completed) AS m12_completed
FROM per_procedure
GROUP BY GROUPING SETS ((site_id), ())
ORDER BY site_id NULLS LAST
