"""The import's writer (``bulk.py``): the rows and history rows Django's own writes would make, all or nothing.

On PostgreSQL the import writes by ``COPY`` and sends each table's history rows and foreign-key
checks without waiting for them; the portable path (``bulk_create`` of model objects, as on the
SQLite demo) is the reference it is held to, row for row.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, connection
from django.utils import timezone

from registry.followup.models import FollowUpEvent, SurveyResponse
from registry.imports import bulk, sample
from registry.imports.columns import BONE_COLUMNS
from registry.imports.models import ImportBatch
from registry.imports.services import import_file
from registry.patients.models import BoneHealthAction, ConsentEvent, Patient, Site
from registry.procedures.models import CementLeak, CementLot, CementProduct, Complication, Procedure, TreatedLevel
from tests.factories import Role, member

GTIN = "05012345678900"
COLUMNS = [*sample.HISTORY_COLUMNS, *BONE_COLUMNS]
# Every table an import writes, parents first, with the path from its rows to their site.
WRITTEN = [
    (Patient, "site"),
    (ConsentEvent, "patient__site"),
    (Procedure, "site"),
    (TreatedLevel, "procedure__site"),
    (FollowUpEvent, "site"),
    (SurveyResponse, "patient__site"),
    (Complication, "procedure__site"),
    (CementLeak, "treated_level__procedure__site"),
    (BoneHealthAction, "patient__site"),
]
AUDITED = [model for model, _path in WRITTEN if model is not ConsentEvent]


@pytest.fixture
def product(db):
    return CementProduct.objects.create(manufacturer="Acme Spine", brand="VertaFix HV", gtin=GTIN)


def full_series() -> list[dict[str, str]]:
    """Levels with leaks, complications, answers, past windows and a bone-health action on every tenth row."""
    today = timezone.localdate()
    rows = sample.with_history(
        sample.legacy_rows(150, product=GTIN, today=today), answers=120, complication_every=7, today=today
    )
    for row in rows[::10]:
        if row.get("level"):
            row.update(bone_dxa_status="done", bone_dxa_on=row["performed_on"], bone_dxa_t_score="-2,6")
    return rows


class Window:
    """The span of one import: a timestamp written by it must fall inside."""

    def __enter__(self) -> Window:
        self.start = timezone.now()
        return self

    def __exit__(self, *exc) -> None:
        self.end = timezone.now()


def portable_path(monkeypatch) -> None:
    """The writer as it runs off PostgreSQL: ``bulk_create`` of model objects, one step after another."""

    class NotPostgres:
        vendor = "sqlite"

        def __getattr__(self, name):
            return getattr(connection, name)

    monkeypatch.setattr(bulk, "connection", NotPostgres())


def normalised(model, values: dict, *, site: Site, ranks: dict, window: Window) -> dict:
    """A row's values as two copies of one record in two sites share them: a relation to another row
    of the import becomes that row's place in its table, a timestamp of the import "at import"."""
    out = {}
    for field in model._meta.concrete_fields:
        name = field.attname
        if name not in values or field.primary_key:
            continue
        value = values[name]
        if field.is_relation and field.related_model in ranks and value is not None:
            value = ("row", ranks[field.related_model][value])
        elif field.is_relation and field.related_model is Site:
            value = "the site" if value == site.pk else value
        elif isinstance(value, dt.datetime):
            assert window.start <= value <= window.end, f"{model.__name__}.{name} written outside the import"
            value = "at import"
        elif name == "study_id":
            value = value.replace(site.code, "<site>")
        out[name] = value
    return out


def written(site: Site, window: Window, user) -> tuple[dict, dict]:
    """Every row the import wrote for ``site`` and every history row of them, normalised, in id order;
    each history row checked to be the one "created" row of its record, under ``user``, at import."""
    ranks: dict = {}
    rows: dict = {}
    history: dict = {}
    for model, path in WRITTEN:
        values = list(model.objects.filter(**{path: site}).order_by("pk").values())
        ranks[model] = {row["id"]: rank for rank, row in enumerate(values)}
        rows[model] = [normalised(model, row, site=site, ranks=ranks, window=window) for row in values]
    for model in AUDITED:
        records = list(model.history.filter(id__in=ranks[model]).order_by("id").values())
        assert [record["id"] for record in records] == sorted(ranks[model]), f"{model.__name__}: one per row"
        for record in records:
            assert record["history_type"] == "+"
            assert record["history_user_id"] == user.pk
            assert record["history_change_reason"] is None
            assert window.start <= record["history_date"] <= window.end
        history[model] = [normalised(model, record, site=site, ranks=ranks, window=window) for record in records]
    return rows, history


@pytest.mark.django_db
def test_the_copy_path_writes_the_rows_and_history_of_djangos_own_writes(
    site_a, site_b, coordinator_a, product, monkeypatch
):
    # Given one full legacy record, with a coordinator of both sites
    member(coordinator_a, site_b, Role.COORDINATOR)
    coordinator_a.__dict__.pop("_registry_site_ids", None)
    data = sample.to_csv(full_series(), COLUMNS)

    # When site A imports it by COPY with the overlapped history and checks (PostgreSQL)...
    with Window() as window_a:
        plan_a = import_file(site=site_a, acting_user=coordinator_a, name="s.csv", data=data)
    # ... and site B by the portable path: Django's bulk_create of model objects, step by step
    portable_path(monkeypatch)
    with Window() as window_b:
        plan_b = import_file(site=site_b, acting_user=coordinator_a, name="s.csv", data=data)
    monkeypatch.undo()

    # Then both wrote every kind of row...
    rows_a, history_a = written(site_a, window_a, coordinator_a)
    rows_b, history_b = written(site_b, window_b, coordinator_a)
    assert all(rows_a[model] for model, _path in WRITTEN), {m.__name__: len(r) for m, r in rows_a.items()}
    assert plan_a.counts == plan_b.counts
    # ... the same rows, value for value, in the same order ...
    for model, _path in WRITTEN:
        assert rows_a[model] == rows_b[model], model.__name__
    # ... and a "created" history row per row, under the coordinator during the import, with the
    # values of the row it records (those its history keeps)
    for model in AUDITED:
        tracked = {field.attname for field in model.history.model.tracked_fields}
        recorded = [{name: value for name, value in row.items() if name in tracked} for row in rows_a[model]]
        assert history_a[model] == recorded == history_b[model], model.__name__
    # And the foreign keys of what was written hold
    connection.check_constraints()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "spoil",
    [
        # Caught by the foreign-key check sent after the table, while Python goes on
        pytest.param({"treated_level_id": 2**40}, id="foreign-key"),
        # Caught by the COPY itself
        pytest.param({"location": None}, id="not-null"),
    ],
)
def test_a_violation_in_the_last_row_leaves_nothing_written(site_a, coordinator_a, product, monkeypatch, spoil):
    # Given a full record whose last leak (the last table but the bone-health actions) breaks a constraint
    real_insert_rows = bulk.insert_rows

    def spoiling(model, rows):
        if model is CementLeak:
            rows[-1] = {**rows[-1], **spoil}
        return real_insert_rows(model, rows)

    monkeypatch.setattr(bulk, "insert_rows", spoiling)
    next_number = site_a.next_study_number

    # When it is committed, the database refuses it
    with pytest.raises(IntegrityError):
        import_file(site=site_a, acting_user=coordinator_a, name="s.csv", data=sample.to_csv(full_series(), COLUMNS))

    # And nothing at all was written: no row, no history row, no lot, no batch, no study number
    for model, _path in WRITTEN:
        assert not model.objects.exists(), model.__name__
    for model in AUDITED:
        assert not model.history.exists(), model.__name__
    assert not CementLot.objects.exists() and not CementLot.history.exists()
    assert not ImportBatch.objects.exists()
    site_a.refresh_from_db()
    assert site_a.next_study_number == next_number
