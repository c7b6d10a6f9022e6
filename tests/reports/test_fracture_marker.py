"""The marker the dashboard's new-fracture section is cached under (``reports/fracture_marker.py``)
moves when any write to the section's tables commits, whatever made it, and never leaves a stale
section in the cache for longer than ``SETTLE_SECONDS``.

Transactional: the marker moves when a writer commits, which a test inside one transaction never does.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from registry.followup.models import SurveyResponse
from registry.fractures import services as fracture_services
from registry.fractures.models import FractureEvent, FractureLevel, Reintervention
from registry.patients.models import ConsentEvent, ConsentStatus, Patient
from registry.procedures.models import CementLeak, Complication, Procedure, TreatedLevel
from reports import fracture_marker, fracture_outcomes
from reports.loaders import CohortFilter
from tests.factories import (
    CementLeakFactory,
    ComplicationFactory,
    PatientFactory,
    ProcedureFactory,
    Role,
    TreatedLevelFactory,
    UserFactory,
    member,
)

pytestmark = pytest.mark.django_db(transaction=True)
AS_OF = dt.date(2026, 11, 21)
DAY = dt.date(2026, 6, 1)


def _user():
    return UserFactory(username="writer")


def _survey_response():
    procedure = ProcedureFactory()
    return SurveyResponse.objects.create(
        patient=procedure.patient, procedure=procedure, event_code="m3", source="phone", collected_on=DAY,
        vas=Decimal("3.0"), submitted_at=timezone.make_aware(dt.datetime(2026, 6, 1, 12)),
    )  # fmt: skip


def _fracture():
    procedure = ProcedureFactory()
    return FractureEvent.objects.create(
        patient=procedure.patient, site=procedure.site, index_procedure=procedure, diagnosed_on=DAY,
        confirmed_by="radiograph", symptomatic=True, recorded_by=_user(),
    )  # fmt: skip


def _reintervention():
    level = TreatedLevelFactory()
    procedure = level.procedure
    return Reintervention.objects.create(
        patient=procedure.patient, site=procedure.site, index_level=level, kind="reaugmentation",
        performed_on=DAY, procedure=ProcedureFactory(patient=procedure.patient), recorded_by=_user(),
    )  # fmt: skip


def _fracture_level():
    return FractureLevel.objects.create(fracture=_fracture(), level=12, classification="remote")


def _withdrawal():
    return ConsentEvent.objects.create(
        patient=PatientFactory(), status=ConsentStatus.WITHDRAWN, effective_on=DAY, recorded_by=_user()
    )


# A row that nothing else refers to, saved through the ORM, for each table the section reads.
ROWS = {
    Procedure: ProcedureFactory,
    TreatedLevel: TreatedLevelFactory,
    CementLeak: CementLeakFactory,
    Complication: ComplicationFactory,
    SurveyResponse: _survey_response,
    FractureEvent: _fracture,
    FractureLevel: _fracture_level,
    Reintervention: _reintervention,
    Patient: PatientFactory,
    ConsentEvent: _withdrawal,
}


class Marker:
    """Asserts that each write moved the marker (it is read after the write has committed)."""

    def __init__(self):
        self.value = fracture_marker.read()

    def moved(self) -> bool:
        before, self.value = self.value, fracture_marker.read()
        return self.value != before


def _raw_insert(row) -> None:
    fields = row._meta.concrete_fields
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    values = [f.get_db_prep_save(getattr(row, f.attname), connection) for f in fields]
    table = connection.ops.quote_name(row._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})",  # noqa: S608
            values,
        )


@pytest.mark.parametrize("model", list(ROWS), ids=lambda m: m.__name__)
def test_every_write_path_moves_the_marker_when_it_commits(model):
    table = connection.ops.quote_name(model._meta.db_table)
    marker = Marker()
    moves = {}

    row = ROWS[model]()
    moves["ORM insert (save)"] = marker.moved()
    row.save()
    moves["ORM update (save)"] = marker.moved()
    model.objects.filter(pk=row.pk).update(id=F("id"))
    moves["QuerySet.update"] = marker.moved()
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET id = id WHERE id = %s", [row.pk])  # noqa: S608
    moves["raw UPDATE"] = marker.moved()
    row.delete()
    moves["ORM delete"] = marker.moved()
    model.objects.bulk_create([row])
    moves["bulk_create"] = marker.moved()
    model.objects.filter(pk=row.pk).delete()
    moves["QuerySet.delete"] = marker.moved()
    _raw_insert(row)
    moves["raw INSERT"] = marker.moved()
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE id = %s", [row.pk])  # noqa: S608
    moves["raw DELETE"] = marker.moved()

    assert moves == dict.fromkeys(moves, True)


def test_services_and_adjudication_sign_off_move_the_marker(site_a):
    coordinator = member(UserFactory(username="coord"), site_a, Role.COORDINATOR)
    investigator = member(UserFactory(username="inv"), site_a, Role.INVESTIGATOR)
    procedure = TreatedLevelFactory(procedure=ProcedureFactory(patient=PatientFactory(site=site_a))).procedure
    marker = Marker()

    fracture = fracture_services.fracture_record(
        patient=procedure.patient, acting_user=coordinator, levels=[procedure.levels.get().level + 1],
        diagnosed_on=DAY, confirmed_by="radiograph", symptomatic=True,
    )  # fmt: skip
    recorded = marker.moved()
    fracture_services.fracture_adjudicate(
        fracture=fracture, acting_user=investigator, severity="mild", relation="possibly"
    )
    signed_off = marker.moved()

    assert (recorded, signed_off) == (True, True)


def test_a_rolled_back_write_leaves_the_marker_and_the_cached_section_as_they_were(site_a):
    procedure = ProcedureFactory(patient=PatientFactory(site=site_a))
    cohort = CohortFilter()
    before = fracture_outcomes.dashboard_section(cohort=cohort, as_of=AS_OF, suppress=False)
    marker = Marker()

    with pytest.raises(RuntimeError), transaction.atomic():
        FractureEvent.objects.create(
            patient=procedure.patient, site=site_a, index_procedure=procedure, diagnosed_on=DAY,
            confirmed_by="radiograph", symptomatic=True, recorded_by=_user(),
        )  # fmt: skip
        raise RuntimeError("the import failed")

    assert not marker.moved()
    served = fracture_outcomes.dashboard_section(cohort=cohort, as_of=AS_OF, suppress=False)
    fresh = fracture_outcomes.section_for(procedure_q=cohort.procedure_q(), site_ids=None, as_of=AS_OF, suppress=False)
    assert served.adjudication == fresh.adjudication == before.adjudication


class Writer(threading.Thread):
    """Records a fracture on its own connection and holds its transaction open until told."""

    def __init__(self, procedure, user, *, bump_before_commit: bool):
        super().__init__()
        self.procedure, self.user, self.bump_before_commit = procedure, user, bump_before_commit
        self.written, self.commit, self.error = threading.Event(), threading.Event(), None

    def run(self):
        try:
            with transaction.atomic():
                FractureEvent.objects.create(
                    patient=self.procedure.patient, site=self.procedure.site, index_procedure=self.procedure,
                    diagnosed_on=DAY, confirmed_by="radiograph", symptomatic=True, recorded_by=self.user,
                )  # fmt: skip
                if self.bump_before_commit:
                    # What the commit does first: the deferred triggers fire (the marker moves),
                    # and the rows become visible only after.
                    with connection.cursor() as cursor:
                        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                self.written.set()
                self.commit.wait(timeout=60)
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
            self.written.set()
        finally:
            connection.close()


def _adjudication_of_registry(now) -> str:
    return fracture_outcomes.dashboard_section(cohort=CohortFilter(), as_of=AS_OF, suppress=False, now=now).adjudication


def test_a_section_computed_while_a_writer_is_open_is_replaced_when_it_commits(site_a):
    procedure = ProcedureFactory(patient=PatientFactory(site=site_a))
    writer = Writer(procedure, _user(), bump_before_commit=False)
    now = timezone.now()

    writer.start()
    writer.written.wait(timeout=60)
    during = _adjudication_of_registry(now)
    writer.commit.set()
    writer.join(timeout=60)

    assert writer.error is None
    assert "0 of 0 new fractures" in during
    assert "0 of 1 new fractures" in _adjudication_of_registry(now)


def test_a_section_computed_between_the_bump_and_the_commit_is_served_no_longer_than_the_settle_time(site_a):
    procedure = ProcedureFactory(patient=PatientFactory(site=site_a))
    writer = Writer(procedure, _user(), bump_before_commit=True)
    now = timezone.now()

    # Given a reader that read the moved marker before the writer's rows were visible
    writer.start()
    writer.written.wait(timeout=60)
    during = _adjudication_of_registry(now)
    writer.commit.set()
    writer.join(timeout=60)

    # When the settle time has passed since it computed, the section is computed again
    settle = dt.timedelta(seconds=fracture_marker.SETTLE_SECONDS)
    after = _adjudication_of_registry(now + settle)

    assert writer.error is None
    assert "0 of 0 new fractures" in during
    assert "0 of 1 new fractures" in after
    # and once settled, the recomputed section is kept: the marker has not moved since
    assert "0 of 1 new fractures" in _adjudication_of_registry(now + 10 * settle)


def test_the_dashboard_shows_a_newly_recorded_fracture_at_once(site_a, admin_user, client_for):
    from django.urls import reverse

    coordinator = member(UserFactory(username="coord"), site_a, Role.COORDINATOR)
    procedure = TreatedLevelFactory(procedure=ProcedureFactory(patient=PatientFactory(site=site_a))).procedure
    client = client_for(admin_user)
    before = client.get(reverse("reports:dashboard")).context["fracture_outcomes"]

    fracture_services.fracture_record(
        patient=procedure.patient, acting_user=coordinator, levels=[procedure.levels.get().level + 1],
        diagnosed_on=DAY, confirmed_by="radiograph", symptomatic=True,
    )  # fmt: skip
    after = client.get(reverse("reports:dashboard")).context["fracture_outcomes"]

    assert "0 of 0 new fractures" in before.adjudication
    assert "0 of 1 new fractures" in after.adjudication


def test_a_cached_section_costs_one_query_of_one_row_whatever_the_registry_size(site_a, django_assert_num_queries):
    cohort = CohortFilter()
    ProcedureFactory(patient=PatientFactory(site=site_a))
    fracture_outcomes.dashboard_section(cohort=cohort, as_of=AS_OF, suppress=False)
    with django_assert_num_queries(1) as small:
        fracture_outcomes.dashboard_section(cohort=cohort, as_of=AS_OF, suppress=False)

    for _ in range(20):
        CementLeakFactory(
            treated_level=TreatedLevelFactory(procedure=ProcedureFactory(patient=PatientFactory(site=site_a)))
        )
    fracture_outcomes.dashboard_section(cohort=cohort, as_of=AS_OF, suppress=False)
    with django_assert_num_queries(1) as large:
        fracture_outcomes.dashboard_section(cohort=cohort, as_of=AS_OF, suppress=False)

    assert small.captured_queries[0]["sql"] == large.captured_queries[0]["sql"]
    assert fracture_marker.MARKER in large.captured_queries[0]["sql"]


def test_the_marker_covers_every_table_the_section_reads(site_a):
    ProcedureFactory(patient=PatientFactory(site=site_a))
    cohort = CohortFilter()
    with CaptureQueriesContext(connection) as queries:
        fracture_outcomes.section_for(procedure_q=cohort.procedure_q(), site_ids=None, as_of=AS_OF, suppress=False)
    read = {table for q in queries for table in re.findall(r'(?:FROM|JOIN) "(\w+)"', q["sql"])}
    assert read
    # Sites are joined only to order patients by their site's code.
    assert read - {"patients_site"} <= set(fracture_marker.TABLES)
