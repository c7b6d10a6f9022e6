"""Report figures from the rollups, identical to the full path (``reports.metrics``) or None.

None means "not covered": the database is not PostgreSQL, or a date of the request falls inside a
month whose rows straddle it (``registry.rollups.models``); the caller then takes the full path.
Access is decided by the caller, as for ``reports.loaders.load_frames``: ``cohort.site_ids`` is
already limited to the user's sites. Stale partitions of the cohort's sites are refreshed first,
so a figure read here is never older than the clinical tables (except a partition another refresh
or an uncommitted writer holds at that moment: it is read as that refresh found it).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from django.db import connection

from registry.rollups.services import rollups_refresh, rollups_supported
from reports.loaders import CohortFilter
from reports.metrics import EMPTY, EVENT_ORDER, MEASURE_COLUMNS, MEASURE_SCALES, PROCEDURE_TYPES, OutcomeRow
from reports.stats import MeanSummary, Proportion, proportion, summary_from_sums

# Each row is in, out, or (a date of the request inside the span of its days) undecided.
PERFORMED_IN = "(%(from)s::date IS NULL OR first_performed_on >= %(from)s) AND (%(to)s::date IS NULL OR last_performed_on <= %(to)s)"
PERFORMED_OUT = "(%(from)s::date IS NOT NULL AND last_performed_on < %(from)s) OR (%(to)s::date IS NOT NULL AND first_performed_on > %(to)s)"
COHORT = """
    (%(all_sites)s OR site_id = ANY(%(site_ids)s))
    AND (%(type)s = '' OR procedure_type = %(type)s)
    AND (%(indication)s = '' OR indication = %(indication)s)
"""
INDICATIONS = f"""
SELECT indication, bool_or(NOT ({PERFORMED_IN})) FROM rollups_procedurerollup
WHERE {COHORT} AND NOT ({PERFORMED_OUT})
GROUP BY indication
"""  # noqa: S608 - constant fragments, values bound
KNOWN_IN = "last_known_on <= %(as_of)s AND (superseded_month IS NULL OR first_superseded_on > %(as_of)s)"
KNOWN_OUT = "first_known_on > %(as_of)s OR (superseded_month IS NOT NULL AND last_superseded_on <= %(as_of)s)"
OUTCOMES = f"""
SELECT procedure_type, indication, event_code, kind,
       sum(answers), bool_or(NOT ({PERFORMED_IN} AND {KNOWN_IN})),
       sum(vas_n), sum(vas_sum), sum(vas_squares), min(vas_min), max(vas_max), sum(vas_improved),
       sum(odi_n), sum(odi_sum), sum(odi_squares), min(odi_min), max(odi_max), sum(odi_improved)
FROM rollups_outcomerollup
WHERE {COHORT} AND known_month <= %(as_of)s AND NOT ({PERFORMED_OUT}) AND NOT ({KNOWN_OUT})
GROUP BY procedure_type, indication, event_code, kind
"""  # noqa: S608 - constant fragments, values bound


@dataclass
class Sums:
    """Integer sums of one measure over a group: enough for its exact MeanSummary."""

    n: int = 0
    total: int = 0
    squares: int = 0
    low: int | None = None
    high: int | None = None
    improved: int = 0

    def add(self, n, total, squares, low, high, improved) -> None:
        self.n += int(n)
        self.total += int(total)
        self.squares += int(squares)
        if low is not None:
            self.low = int(low) if self.low is None else min(self.low, int(low))
            self.high = int(high) if self.high is None else max(self.high, int(high))
        self.improved += int(improved)

    def summary(self, scale: int) -> MeanSummary:
        return summary_from_sums(self.n, self.total, self.squares, self.low or 0, self.high or 0, scale=scale)

    def improved_share(self) -> Proportion:
        return proportion(self.improved, self.n)


def _parameters(cohort: CohortFilter, as_of: dt.date) -> dict:
    return {
        "all_sites": cohort.site_ids is None,
        "site_ids": list(cohort.site_ids or []),
        "type": cohort.procedure_type,
        "indication": cohort.indication,
        "from": cohort.performed_from,
        "to": cohort.performed_to,
        "as_of": as_of,
    }


def _row(scores: dict, changes: dict, key: tuple) -> OutcomeRow:
    """``reports.metrics``' row of one group and event: empty where nobody answered."""
    measure_scale = scores["scale"]
    score = scores["sums"].get(key)
    summary = score.summary(measure_scale) if score is not None else EMPTY
    if key[-1] == "baseline":
        return OutcomeRow(score=summary, change=None, improved=None)
    change = changes["sums"].get(key)
    if change is None:
        return OutcomeRow(score=summary, change=EMPTY, improved=proportion(0, 0))
    return OutcomeRow(score=summary, change=change.summary(measure_scale), improved=change.improved_share())


def outcomes_from_rollups(cohort: CohortFilter, *, as_of: dt.date) -> dict | None:
    """``reports.metrics.outcomes`` of the cohort as known on ``as_of``, or None if not covered."""
    if not rollups_supported():
        return None
    rollups_refresh(site_ids=cohort.site_ids)
    parameters = _parameters(cohort, as_of)
    with connection.cursor() as cursor:
        cursor.execute(INDICATIONS, parameters)
        indication_rows = cursor.fetchall()
        cursor.execute(OUTCOMES, parameters)
        outcome_rows = cursor.fetchall()
    if any(undecided for _, undecided in indication_rows) or any(row[5] for row in outcome_rows):
        return None
    indications = sorted(indication for indication, _ in indication_rows)
    # {measure: {kind: {group key: Sums}}}; keys ("all", event), ("type", type, event) and
    # ("indication", indication, event).
    sums: dict = {measure: {"score": defaultdict(Sums), "change": defaultdict(Sums)} for measure in MEASURE_COLUMNS}
    present = set()
    for kind_of_procedure, indication, event, kind, _answers, _undecided, *measures in outcome_rows:
        present.add(event)
        for measure, values in zip(MEASURE_COLUMNS, (measures[:6], measures[6:]), strict=True):
            for key in (("all", event), ("type", kind_of_procedure, event), ("indication", indication, event)):
                sums[measure][kind][key].add(*values)
    events = [*EVENT_ORDER, *sorted(present - set(EVENT_ORDER) - {""})]
    result: dict = {"events": events}
    for measure in MEASURE_COLUMNS:
        scores = {"scale": MEASURE_SCALES[measure], "sums": sums[measure]["score"]}
        changes = {"sums": sums[measure]["change"]}
        by_type = {"all": {event: _row(scores, changes, ("all", event)) for event in events}}
        for kind_of_procedure in PROCEDURE_TYPES:
            by_type[kind_of_procedure] = {
                event: _row(scores, changes, ("type", kind_of_procedure, event)) for event in events
            }
        by_indication = {
            indication: {event: _row(scores, changes, ("indication", indication, event)) for event in events}
            for indication in indications
        }
        result[measure] = {"by_type": by_type, "by_indication": by_indication}
    return result
