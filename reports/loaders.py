"""The set-based queries that build the report frames (``reports.metrics.Frames``).

One query per frame, whatever the size of the cohort: eight in all. Each selects only the
columns the metrics use, casts decimals to floats and dates to day numbers in SQL, and skips
model instances, so that a registry of 100,000 patients loads in seconds (BENCHMARKS.md, "Reports"). Access is
decided by the caller (views and services pass the site ids a user may see).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from django.db import connection
from django.db.models import F, FloatField, Func, IntegerField, Q, QuerySet
from django.db.models.functions import Cast

from registry.followup.models import FollowUpEvent, SurveyResponse
from registry.patients.models import BoneHealthAction, Site
from registry.procedures.models import CementLeak, Complication, Procedure, TreatedLevel
from reports.metrics import SCHEMA, Frames, make_frames


@dataclass(frozen=True)
class CohortFilter:
    """Which procedures a report covers. ``site_ids`` None means every site."""

    site_ids: tuple[int, ...] | None = None
    performed_from: dt.date | None = None
    performed_to: dt.date | None = None
    procedure_type: str = ""
    indication: str = ""

    def procedure_q(self, prefix: str = "") -> Q:
        """The filter as a Q on Procedure, reached through ``prefix`` (e.g. "procedure__")."""
        q = Q()
        if self.site_ids is not None:
            q &= Q(**{f"{prefix}site_id__in": list(self.site_ids)})
        if self.performed_from is not None:
            q &= Q(**{f"{prefix}performed_on__gte": self.performed_from})
        if self.performed_to is not None:
            q &= Q(**{f"{prefix}performed_on__lte": self.performed_to})
        if self.procedure_type:
            q &= Q(**{f"{prefix}procedure_type": self.procedure_type})
        if self.indication:
            q &= Q(**{f"{prefix}indication": self.indication})
        return q


def _float(field: str) -> Cast:
    return Cast(F(field), FloatField())


class EpochDay(Func):
    """A date as whole days since 1970-01-01, so that dates arrive as integers (vectorised
    into datetime64 by pandas) rather than as one Python ``date`` object per row."""

    output_field = IntegerField()

    def as_postgresql(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, template="(%(expressions)s - DATE '1970-01-01')", **extra_context)

    def as_sqlite(self, compiler, connection, **extra_context):
        template = "CAST(julianday(%(expressions)s) - 2440587.5 AS INTEGER)"
        return self.as_sql(compiler, connection, template=template, **extra_context)


class OdiPoints(Func):
    """The sum of a response's ODI section answers (``odi_answers``, section -> 0-5), summed in
    the database: the exact score is 20 x this / ``odi_answered`` (``metrics.exact_odi_percent``).
    Computed from the stored answers rather than stored beside them, so it cannot drift from them."""

    output_field = IntegerField()

    def as_postgresql(self, compiler, connection, **extra_context):
        template = (
            "(SELECT SUM((answer.value)::int) FROM jsonb_each(%(expressions)s) AS answer "
            "WHERE jsonb_typeof(answer.value) = 'number')"
        )
        return self.as_sql(compiler, connection, template=template, **extra_context)

    def as_sqlite(self, compiler, connection, **extra_context):
        template = "(SELECT SUM(answer.value) FROM json_each(%(expressions)s) AS answer WHERE answer.type = 'integer')"
        return self.as_sql(compiler, connection, template=template, **extra_context)


def _fetch(queryset: QuerySet) -> list[tuple]:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _column(values: tuple, kind: str) -> object:
    if kind == "date":
        days = np.array(values, dtype=float)  # None -> NaN
        return pd.to_datetime(days, unit="D")  # NaN -> NaT
    if kind == "float":
        return np.array(values, dtype=float)
    if kind == "int64":
        return np.array(values, dtype=np.int64)
    return np.array(values, dtype=object)


def _frame(queryset: QuerySet, kinds: dict[str, str]) -> pd.DataFrame:
    """Run ``queryset`` (a ``values_list`` in ``kinds`` order) as one statement; build each
    column in one typed array rather than a Python object per cell."""
    rows = _fetch(queryset)
    if not rows:
        return pd.DataFrame({name: pd.Series(dtype=object) for name in kinds})
    columns = zip(*rows, strict=True)
    return pd.DataFrame(
        {name: _column(values, kind) for (name, kind), values in zip(kinds.items(), columns, strict=True)}
    )


def typed_frame(queryset: QuerySet, columns: Sequence[str]) -> pd.DataFrame:
    """The rows with their Python values (dates, booleans, numbers), for the research export."""
    return pd.DataFrame.from_records(_fetch(queryset), columns=list(columns))


def _load(queryset: QuerySet, frame: str, fields: dict[str, object]) -> pd.DataFrame:
    """``fields`` maps frame column -> field path or expression; types come from SCHEMA."""
    kinds = {name: SCHEMA[frame].get(name, "str") for name in fields}
    annotations = {}
    for name, value in fields.items():
        if kinds[name] == "date":
            annotations[f"_{name}"] = EpochDay(F(value) if isinstance(value, str) else value)
        elif not isinstance(value, str):
            annotations[f"_{name}"] = value
    if annotations:
        queryset = queryset.annotate(**annotations)
    paths = [f"_{name}" if f"_{name}" in annotations else value for name, value in fields.items()]
    if not queryset.query.distinct_fields:
        queryset = queryset.order_by()  # No ordering needed (DISTINCT ON needs its own).
    return _frame(queryset.values_list(*paths), kinds)


PROCEDURE_FIELDS = {
    "procedure_id": "id",
    "patient_id": "patient_id",
    "site_id": "site_id",
    "performed_on": "performed_on",
    "procedure_type": "procedure_type",
    "indication": "indication",
    "sex": "patient__sex",
    "date_of_birth": "patient__date_of_birth",
    "consent_status": "patient__consent_status",
    "deceased_on": "patient__deceased_on",
    "fracture_age": "fracture_age",
    "fracture_age_days": "fracture_age_days",
    "mri_oedema": "mri_oedema",
    "fluoroscopy_seconds": "fluoroscopy_seconds",
    "dose_area_product": _float("dose_area_product"),
    "lowest_t_score": _float("patient__lowest_t_score"),
    "last_dxa_on": "patient__last_dxa_on",
}
LEVEL_FIELDS = {
    "level_id": "id",
    "procedure_id": "procedure_id",
    "level": "level",
    "cement_volume_ml": _float("cement_volume_ml"),
    "body_volume_cc": _float("vertebral_body_volume_cc"),
    "product": "cement_lot__product__brand",
    "lot": "cement_lot__lot_number",
    "viscosity": "viscosity",
    "needle_gauge": "needle_gauge",
}
LEAK_FIELDS = {
    "leak_id": "id",
    "level_id": "treated_level_id",
    "location": "location",
    "pathway": "pathway",
    "size_grade": "size_grade",
    "symptomatic": "symptomatic",
}
COMPLICATION_FIELDS = {
    "complication_id": "id",
    "procedure_id": "procedure_id",
    "complication_type": "complication_type",
    "severity": "severity",
    "symptomatic": "symptomatic",
}
RESPONSE_FIELDS = {
    "response_id": "id",
    "procedure_id": "procedure_id",
    "event_code": "event_code",
    "collected_on": "collected_on",
    "vas": _float("vas"),
    "odi_percent": _float("odi_percent"),
    "odi_points": OdiPoints(F("odi_answers")),
    "odi_answered": "odi_answered",
    "osteoporosis_therapy_taken": "osteoporosis_therapy_taken",
}
EVENT_FIELDS = {
    "event_id": "id",
    "procedure_id": "procedure_id",
    "event_code": "event_code",
    "status": "status",
    "invite_on": "invite_on",
    "window_closes_on": "window_closes_on",
    "cancel_reason": "cancel_reason",
}
BONE_ACTION_FIELDS = {
    "action_id": "id",
    "procedure_id": "procedure_id",
    "kind": "kind",
    "status": "status",
    "due_on": "due_on",
    "done_on": "done_on",
}


def _latest_answers(through_procedure: Q, as_of: dt.date) -> QuerySet:
    """Survey responses collected by ``as_of``; on PostgreSQL only the last per procedure and
    event (``DISTINCT ON``), the one the metrics use (``metrics.latest_responses``), which
    spares fetching repeat answers."""
    responses = SurveyResponse.objects.filter(through_procedure, procedure__isnull=False, collected_on__lte=as_of)
    if connection.vendor == "postgresql":
        responses = responses.order_by("procedure_id", "event_code", "-collected_on", "-id").distinct(
            "procedure_id", "event_code"
        )
    return responses


def load_frames(cohort: CohortFilter, *, as_of: dt.date) -> Frames:
    """Everything the metrics need for ``cohort``, in eight queries."""
    through_procedure = cohort.procedure_q("procedure__")
    raw = {
        "procedures": _load(Procedure.objects.filter(cohort.procedure_q()), "procedures", PROCEDURE_FIELDS),
        "levels": _load(TreatedLevel.objects.filter(through_procedure), "levels", LEVEL_FIELDS),
        "leaks": _load(
            CementLeak.objects.filter(cohort.procedure_q("treated_level__procedure__")), "leaks", LEAK_FIELDS
        ),
        "complications": _load(Complication.objects.filter(through_procedure), "complications", COMPLICATION_FIELDS),
        "responses": _load(_latest_answers(through_procedure, as_of), "responses", RESPONSE_FIELDS),
        "events": _load(FollowUpEvent.objects.filter(through_procedure), "events", EVENT_FIELDS),
        "bone_actions": _load(
            BoneHealthAction.objects.filter(through_procedure, procedure__isnull=False),
            "bone_actions",
            BONE_ACTION_FIELDS,
        ),
        "sites": _load(Site.objects.all(), "sites", {"site_id": "id", "code": "code"}),
    }
    return make_frames(as_of=as_of, **raw)
