"""The set-based queries that build the report frames (``reports.metrics.Frames``).

One query per frame, whatever the size of the cohort: eight in all. Each selects only the
columns the metrics use, casts decimals to floats and dates to day numbers in SQL, and skips
model instances, so that a registry of 100,000 patients loads in seconds (BENCHMARKS.md, "Reports"). Access is
decided by the caller (views and services pass the site ids a user may see).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from django.db import connections, router, transaction
from django.db.models import (
    Case,
    DateField,
    Exists,
    F,
    FloatField,
    Func,
    IntegerField,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
    Window,
)
from django.db.models.expressions import RowRange
from django.db.models.functions import Cast, Coalesce, Greatest, TruncDate
from django.utils import timezone

from registry.db_router import reading_replica
from registry.followup.models import FollowUpEvent, SurveyResponse
from registry.patients.models import BoneHealthAction, ConsentEvent, ConsentStatus, Patient, Site
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
    # On the alias the router picks: the replica inside ``reading_replica()`` when there is one.
    alias = queryset.db
    sql, params = queryset.query.get_compiler(using=alias).as_sql()
    with connections[alias].cursor() as cursor:
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
    # One object per distinct text, not per row: a product name or a lot number repeats over
    # hundreds of thousands of levels, and the driver makes a new string for each cell.
    codes, distinct = pd.factorize(np.array(values, dtype=object), use_na_sentinel=False)
    distinct = np.asarray(distinct, dtype=object)
    distinct[pd.isna(distinct)] = None
    return distinct[codes]


# Rows turned into columns at a time. A whole result held as Python tuples costs ~300 bytes a row
# (the tuple and an object per cell) beside its typed columns; fetched from a server-side cursor in
# chunks, only one chunk is ever held that way, whatever the size of the registry.
FETCH_ROWS = 100_000


def _chunks(queryset: QuerySet) -> Iterator[list[tuple]]:
    """The rows of ``queryset`` in lists of at most ``FETCH_ROWS``, from a server-side cursor
    (PostgreSQL; elsewhere Django's chunked read), so that the client never holds the whole
    result. Inside a transaction (``load_frames`` opens one) the server streams it too."""
    alias = queryset.db
    sql, params = queryset.query.get_compiler(using=alias).as_sql()
    with connections[alias].chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(FETCH_ROWS):
            yield rows


def _frame(queryset: QuerySet, kinds: dict[str, str]) -> pd.DataFrame:
    """Run ``queryset`` (a ``values_list`` in ``kinds`` order) as one statement; build each
    column in one typed array rather than a Python object per cell."""
    parts: dict[str, list] = {name: [] for name in kinds}
    for rows in _chunks(queryset):
        for (name, kind), values in zip(kinds.items(), zip(*rows, strict=True), strict=True):
            parts[name].append(_column(values, kind))
    if not parts or not next(iter(parts.values())):
        return pd.DataFrame({name: pd.Series(dtype=object) for name in kinds})
    return pd.DataFrame({name: _concatenate(chunks) for name, chunks in parts.items()})


def _concatenate(chunks: list) -> object:
    if len(chunks) == 1:
        return chunks[0]
    if isinstance(chunks[0], pd.DatetimeIndex):
        return chunks[0].append(chunks[1:])
    return np.concatenate(chunks)


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
        queryset = queryset.order_by()  # No ordering needed (DISTINCT ON would need its own).
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
    "known_on": "known_on",
}
EVENT_FIELDS = {
    "event_id": "id",
    "procedure_id": "procedure_id",
    "event_code": "event_code",
    "invite_on": "invite_on",
    "window_closes_on": "window_closes_on",
}
BONE_ACTION_FIELDS = {
    "action_id": "id",
    "procedure_id": "procedure_id",
    "kind": "kind",
    "status": "status",
    "due_on": "due_on",
    "done_on": "done_on",
}


def known_by(as_of: dt.date) -> dt.datetime:
    """The first instant after ``as_of`` (midnight starting the next day, in the registry's zone):
    a row recorded before it was known on ``as_of``."""
    return timezone.make_aware(dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time.min))


def _patient_as_of(end: dt.datetime, *, consent_annotation: str = "_consent_as_of") -> dict[str, object]:
    """The patient's death and consent as recorded before ``end`` (issue #10 item 4), from the
    audit trail: the last history row before ``end``; the patient as they are now if they have no
    history at all (rows written without it). ``withdrawn_on`` is the effective date of the
    withdrawal recorded before ``end`` (its ConsentEvent, else the day the history shows it); it
    reads the consent from the procedure's annotation named ``consent_annotation``."""
    history = Patient.history.model.objects.filter(id=OuterRef("patient_id"))
    known = history.filter(history_date__lt=end).order_by("-history_date", "-history_id")
    has_history = Exists(history)
    consent = Case(
        When(has_history, then=Subquery(known.values("consent_status")[:1])),
        default=F("patient__consent_status"),
    )
    withdrawal = ConsentEvent.objects.filter(
        patient_id=OuterRef("patient_id"), recorded_at__lt=end, status=ConsentStatus.WITHDRAWN
    ).order_by("-recorded_at", "-id")
    first_withdrawn = history.filter(history_date__lt=end, consent_status=ConsentStatus.WITHDRAWN).order_by(
        "history_date"
    )
    return {
        "consent_status": consent,
        "deceased_on": Case(
            When(has_history, then=Subquery(known.values("deceased_on")[:1])),
            default=F("patient__deceased_on"),
            output_field=DateField(),
        ),
        "withdrawn_on": Case(
            When(
                Q(**{consent_annotation: ConsentStatus.WITHDRAWN}),
                then=Coalesce(
                    Subquery(withdrawal.values("effective_on")[:1]),
                    Subquery(first_withdrawn.annotate(day=TruncDate("history_date")).values("day")[:1]),
                    output_field=DateField(),
                ),
            ),
            default=None,
            output_field=DateField(),
        ),
    }


def _answer_versions(through_procedure: Q, as_of: dt.date, since: dt.date | None) -> QuerySet:
    """Survey responses collected and submitted by ``as_of``, without the versions no day from
    ``since`` to ``as_of`` shows: an answer is the procedure's answer for its event from the day it
    is known (``known_on``: collected and submitted) until a later-ranked answer (by collected day,
    then id: ``metrics.latest_responses``) becomes known; one replaced before it was known never
    counts. What is kept lets ``Frames.up_to`` show any day from ``since`` as it was known then
    (the disclosure guard's previous release) and spares fetching the repeat answers nobody sees.
    The same rule as the outcome rollups' (``registry.rollups.services``)."""
    known_on = Greatest("collected_on", TruncDate("submitted_at"), output_field=DateField())
    superseded_on = Window(
        Min("known_on"),
        partition_by=[F("procedure_id"), F("event_code")],
        order_by=[F("collected_on").desc(), F("id").desc()],
        frame=RowRange(start=None, end=-1),
    )
    return (
        SurveyResponse.objects.filter(
            through_procedure, procedure__isnull=False, collected_on__lte=as_of, submitted_at__lt=known_by(as_of)
        )
        .annotate(known_on=known_on)
        .annotate(superseded_on=superseded_on)
        .filter(
            Q(superseded_on__isnull=True)
            | (Q(superseded_on__gt=F("known_on")) & Q(superseded_on__gt=since or dt.date.min))
        )
    )


def load_frames(cohort: CohortFilter, *, as_of: dt.date, since: dt.date | None = None) -> Frames:
    """Everything the metrics need for ``cohort``, in eight queries, as known on ``as_of``:
    answers submitted, statuses changed, deaths and withdrawals recorded by then (issue #10
    item 4), so that a quarter rebuilt later shows what its first build showed. ``Frames.up_to``
    can take them back to any day from ``since`` (default: the first answer) as it was known then;
    a caller that never goes back passes ``as_of`` and loads only each event's latest answer.

    Read from the replica when one is configured (``DATABASE_REPLICA_URL``): a report tolerates
    the replica's few seconds of lag, and the primary keeps its cores for writes."""
    with reading_replica():
        alias = router.db_for_read(Procedure) or "default"
        with transaction.atomic(using=alias):
            if connections[alias].vendor == "postgresql":
                with connections[alias].cursor() as cursor:
                    # Every row is read: plan for the last one, not for the first tenth (a cursor's
                    # default, which picks nested loops over the hash joins of a whole read).
                    cursor.execute("SET LOCAL cursor_tuple_fraction = 1.0")
            return _load_frames(cohort, as_of=as_of, since=since)


def _load_frames(cohort: CohortFilter, *, as_of: dt.date, since: dt.date | None) -> Frames:
    through_procedure = cohort.procedure_q("procedure__")
    end = known_by(as_of)
    patient_fields = _patient_as_of(end)
    procedures = Procedure.objects.filter(cohort.procedure_q()).annotate(
        _consent_as_of=patient_fields["consent_status"]
    )
    # A status changed after ``as_of`` was still open on ``as_of``.
    status_known = Q(status_changed_at__lt=end)
    event_fields = {
        **EVENT_FIELDS,
        "status": Case(When(status_known, then=F("status")), default=Value("open")),
        "cancel_cause": Case(When(status_known, then=F("cancel_cause")), default=Value("")),
        "status_changed_on": TruncDate("status_changed_at"),
    }
    procedure_fields = {
        **PROCEDURE_FIELDS,
        "consent_status": F("_consent_as_of"),
        "deceased_on": patient_fields["deceased_on"],
        "withdrawn_on": patient_fields["withdrawn_on"],
    }
    if since is not None and since < as_of:
        # Deaths and withdrawals as recorded by ``since`` too, for ``Frames.up_to(since)``; looked
        # up only for the patients whose record changed in between (the rest: the same as on
        # ``as_of``, ``metrics.make_frames``), a probe of one index for the others.
        then = _patient_as_of(known_by(since), consent_annotation="_consent_since")
        changed = Exists(
            Patient.history.model.objects.filter(
                id=OuterRef("patient_id"), history_date__gte=known_by(since), history_date__lt=end
            )
        ) | Exists(
            ConsentEvent.objects.filter(
                patient_id=OuterRef("patient_id"), recorded_at__gte=known_by(since), recorded_at__lt=end
            )
        )
        procedures = procedures.annotate(
            _changed_since=changed,
            _consent_since=Case(When(_changed_since=True, then=then["consent_status"]), default=Value("")),
        )
        procedure_fields |= {
            "changed_since": F("_changed_since"),
            **{
                f"{name}_since": Case(
                    When(_changed_since=True, then=then[name]), default=None, output_field=DateField()
                )
                for name in ("deceased_on", "withdrawn_on")
            },
        }
    raw = {
        "procedures": _load(procedures, "procedures", procedure_fields),
        "levels": _load(TreatedLevel.objects.filter(through_procedure), "levels", LEVEL_FIELDS),
        "leaks": _load(
            CementLeak.objects.filter(cohort.procedure_q("treated_level__procedure__")), "leaks", LEAK_FIELDS
        ),
        "complications": _load(Complication.objects.filter(through_procedure), "complications", COMPLICATION_FIELDS),
        "responses": _load(_answer_versions(through_procedure, as_of, since), "responses", RESPONSE_FIELDS),
        "events": _load(FollowUpEvent.objects.filter(through_procedure), "events", event_fields),
        "bone_actions": _load(
            BoneHealthAction.objects.filter(through_procedure, procedure__isnull=False),
            "bone_actions",
            BONE_ACTION_FIELDS,
        ),
        "sites": _load(Site.objects.all(), "sites", {"site_id": "id", "code": "code"}),
    }
    return make_frames(as_of=as_of, known_since=since, **raw)
