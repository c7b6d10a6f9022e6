"""Issue #12 item 9, written as the attacks: the audit history cannot be rewritten (raw SQL, admin
revert), follow-up work has a history, and reading identified data leaves a trace (access log)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.apps import apps
from django.contrib import admin
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from simple_history.admin import SimpleHistoryAdmin
from simple_history.models import HistoricalChanges

from registry.core.admin import AuditedAdmin
from registry.core.models import AccessKind, AccessLogEntry
from registry.followup import lifecycle
from registry.followup import services as followup_services
from registry.followup.models import FollowUpEvent, SurveyInvitation, WorklistItem, WorklistKind, WorklistStatus
from registry.patients import services as patient_services
from registry.patients.models import Patient
from tests.factories import PatientFactory, ProcedureFactory

DAY0 = dt.date(2026, 2, 2)


def at(day: int, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(DAY0 + dt.timedelta(days=day), dt.time(hour), tzinfo=ZoneInfo("Europe/Madrid"))


def register(site, user, **data) -> Patient:
    return patient_services.patient_register(
        site=site,
        acting_user=user,
        data={
            "mrn": "MRN-4711",
            "given_name": "Lucía",
            "family_name": "Fernández",
            "date_of_birth": dt.date(1941, 3, 9),
            "sex": "female",
            **data,
        },
    )


def refused(sql: str, params) -> bool:
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
    except IntegrityError as exc:
        return "append-only" in str(exc)
    return False


# --- The history cannot be rewritten ----------------------------------------------------------------


def test_a_history_row_cannot_be_changed_or_deleted_with_raw_sql(site_a, coordinator_a):
    patient = register(site_a, coordinator_a)
    record = patient.history.get()

    assert refused("UPDATE patients_historicalpatient SET family_name = %s WHERE history_id = %s", ["X", record.pk])
    assert refused("UPDATE patients_historicalpatient SET history_user_id = NULL WHERE history_id = %s", [record.pk])
    assert refused("DELETE FROM patients_historicalpatient WHERE history_id = %s", [record.pk])

    record.refresh_from_db()
    assert (record.family_name, record.history_user, record.history_type) == ("Fernández", coordinator_a, "+")


def test_new_history_is_still_written(site_a, coordinator_a):
    patient = register(site_a, coordinator_a)
    patient_services.patient_update(patient=patient, acting_user=coordinator_a, data={"phone": "600 000 000"})
    assert list(patient.history.values_list("history_type", "phone")) == [("~", "600 000 000"), ("+", "")]


def test_every_history_table_and_the_access_log_refuse_update_and_delete(db):
    history_tables = {m._meta.db_table for m in apps.get_models() if issubclass(m, HistoricalChanges)}
    assert {
        "followup_historicalfollowupevent",
        "followup_historicalsurveyinvitation",
        "followup_historicalworklistitem",
        "patients_historicalpatient",
    } <= history_tables
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
            WHERE t.tgname = 'append_only' AND t.tgenabled <> 'D'
              AND (t.tgtype & 8) <> 0 AND (t.tgtype & 16) <> 0
            """
        )
        protected = {row[0] for row in cursor.fetchall()}
    # Bits 8 and 16 of tgtype: the trigger fires on DELETE and on UPDATE.
    assert history_tables | {"core_accesslogentry"} <= protected


def test_the_admin_shows_an_old_version_but_cannot_revert_to_it(site_a, coordinator_a, admin_user, client_for):
    patient = register(site_a, coordinator_a, phone="600 111 111")
    patient_services.patient_update(patient=patient, acting_user=coordinator_a, data={"phone": "600 222 222"})
    first = patient.history.earliest("history_date")
    url = f"/admin/patients/patient/{patient.pk}/history/{first.pk}/"
    client = client_for(admin_user)

    page = client.get(url)
    assert page.status_code == 200
    assert "Revert" not in page.content.decode()

    change_form = client.get(f"/admin/patients/patient/{patient.pk}/change/").context["adminform"].form
    data = {name: value for name, value in change_form.initial.items() if value is not None}
    assert client.post(url, {**data, "phone": "600 111 111"}).status_code == 405

    patient.refresh_from_db()
    assert patient.phone == "600 222 222"
    assert patient.history.count() == 2


def test_no_admin_page_offers_a_history_revert(db):
    with_history = [m for m in admin.site._registry.values() if isinstance(m, SimpleHistoryAdmin)]
    assert with_history
    assert all(isinstance(model_admin, AuditedAdmin) for model_admin in with_history)


# --- Follow-up work has a history --------------------------------------------------------------------


def test_follow_up_events_invitations_and_worklist_items_have_a_history(site_a, coordinator_a, client_for):
    patient = PatientFactory(site=site_a, email="lucia@example.test")
    procedure = ProcedureFactory(patient=patient, performed_on=DAY0)
    followup_services.followup_schedule_procedure(procedure_id=procedure.pk, now=at(0, 12))
    event = FollowUpEvent.objects.get(procedure=procedure, event_code="early")

    with transaction.atomic():
        assert lifecycle.open_events(event_ids=[event.pk], now=at(14)).opened == 1
    assert list(event.history.order_by("history_id").values_list("history_type", "status")) == [
        ("+", "scheduled"),
        ("~", "invited"),
    ]
    invitation = SurveyInvitation.objects.get(event=event)
    created = invitation.history.earliest("history_id")
    assert (created.history_type, created.expires_at) == ("+", invitation.expires_at)
    # The history keeps when a link was sent and used, never how to recognise it.
    assert not hasattr(created, "token_hash") and not hasattr(created, "token_salt")

    item = lifecycle.open_worklist_item(
        kind=WorklistKind.PHONE_DUE, patient=patient, due_on=DAY0 + dt.timedelta(days=14), event=event
    )
    response = client_for(coordinator_a).post(
        reverse("followup:worklist_done", args=[item.pk]), {"note": "Called, will answer on paper"}
    )
    assert response.status_code == 302
    done = WorklistItem.history.filter(id=item.pk).latest("history_id")
    assert (done.history_type, done.status, done.note, done.history_user) == (
        "~",
        WorklistStatus.DONE,
        "Called, will answer on paper",
        coordinator_a,
    )


# --- Who looked at identified data ---------------------------------------------------------------------


def test_opening_a_patient_page_is_in_the_access_log(site_a, coordinator_a, coordinator_b, client_for):
    patient = register(site_a, coordinator_a)

    assert client_for(coordinator_a).get(reverse("patients:detail", args=[patient.pk])).status_code == 200
    # Another site's coordinator is told nothing exists, and the log records no view.
    assert client_for(coordinator_b).get(reverse("patients:detail", args=[patient.pk])).status_code == 404

    entry = AccessLogEntry.objects.get()
    assert (entry.user, entry.kind, entry.site, entry.record_type, entry.record_id) == (
        coordinator_a,
        AccessKind.PATIENT_PAGE,
        site_a,
        "patients.patient",
        patient.pk,
    )
    # Internal ids only: no study id, name or MRN anywhere in the entry.
    stored = " ".join(str(v) for v in AccessLogEntry.objects.values_list().get())
    for identifier in (patient.study_id, patient.mrn, patient.family_name, patient.given_name):
        assert identifier not in stored


def test_the_case_list_is_in_the_access_log_with_its_row_count(site_a, coordinator_a, client_for):
    register(site_a, coordinator_a, mrn="A-1")
    register(site_a, coordinator_a, mrn="A-2")
    assert client_for(coordinator_a).get(reverse("patients:list")).status_code == 200
    entry = AccessLogEntry.objects.get()
    assert (entry.user, entry.kind, entry.rows) == (coordinator_a, AccessKind.CASE_LIST, 2)


def test_an_identified_export_is_in_the_access_log(site_a, coordinator_a, client_for):
    register(site_a, coordinator_a)
    response = client_for(coordinator_a).post(reverse("imports:export"), {"site": site_a.pk, "file_format": "csv"})
    assert response.status_code == 200
    entry = AccessLogEntry.objects.get()
    assert (entry.user, entry.kind, entry.site, entry.rows) == (coordinator_a, AccessKind.IDENTIFIED_EXPORT, site_a, 1)


def test_api_reads_of_identified_records_are_in_the_access_log(site_a, coordinator_a):
    from rest_framework.test import APIClient

    patient = register(site_a, coordinator_a)
    api = APIClient()
    api.force_authenticate(coordinator_a)

    assert api.get(f"/api/patients/{patient.pk}/").status_code == 200
    assert api.get("/api/patients/").status_code == 200
    assert api.get("/api/cement-products/").status_code == 200  # the catalogue is not identified data

    assert list(
        AccessLogEntry.objects.order_by("id").values_list("kind", "site_id", "record_type", "record_id", "rows")
    ) == [
        (AccessKind.API_RECORD, site_a.pk, "patients.patient", patient.pk, None),
        (AccessKind.API_LIST, None, "api.patient", None, 1),
    ]


def test_administrators_read_the_access_log_and_nobody_edits_it(site_a, coordinator_a, admin_user, client_for):
    register(site_a, coordinator_a)
    client_for(coordinator_a).get(reverse("patients:list"))
    entry = AccessLogEntry.objects.get()
    client = client_for(admin_user)

    listing = client.get("/admin/core/accesslogentry/")
    assert listing.status_code == 200 and "coord_a" in listing.content.decode()
    assert client.get(f"/admin/core/accesslogentry/{entry.pk}/change/").status_code == 200
    assert client.get("/admin/core/accesslogentry/add/").status_code == 403
    assert client.post(f"/admin/core/accesslogentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client_for(coordinator_a).get("/admin/core/accesslogentry/").status_code == 302
    assert AccessLogEntry.objects.count() == 1


def test_the_demo_database_sqlite_refuses_history_changes_too():
    """The demo runs on SQLite: the same migration code installs its triggers there."""
    import sqlite3
    from types import SimpleNamespace

    from registry.core import append_only

    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE patients_historicalpatient (history_id integer PRIMARY KEY, family_name text)")
    db.execute("INSERT INTO patients_historicalpatient VALUES (1, 'Fernández')")
    editor = SimpleNamespace(
        connection=SimpleNamespace(vendor="sqlite"), execute=lambda sql, params=None: db.execute(sql)
    )
    append_only.protect(editor, ["patients_historicalpatient"])

    for statement in (
        "UPDATE patients_historicalpatient SET family_name = 'X'",
        "DELETE FROM patients_historicalpatient",
    ):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute(statement)
    db.execute("INSERT INTO patients_historicalpatient VALUES (2, 'García')")
    assert db.execute("SELECT family_name FROM patients_historicalpatient ORDER BY 1").fetchall() == [
        ("Fernández",),
        ("García",),
    ]

    append_only.unprotect(editor, ["patients_historicalpatient"])
    db.execute("DELETE FROM patients_historicalpatient")


def test_the_procedure_page_and_a_lot_recall_download_are_in_the_access_log(site_a, coordinator_a, client_for):
    from tests.factories import TreatedLevelFactory

    level = TreatedLevelFactory(procedure=ProcedureFactory(patient=PatientFactory(site=site_a)))
    TreatedLevelFactory(procedure=ProcedureFactory(patient=PatientFactory(site=site_a)), cement_lot=level.cement_lot)
    client = client_for(coordinator_a)

    assert client.get(reverse("procedures:edit", args=[level.procedure_id])).status_code == 200
    recall = client.get(reverse("procedures:lot_recall"), {"lot": level.cement_lot.lot_number, "format": "csv"})
    assert recall.status_code == 200

    assert list(
        AccessLogEntry.objects.order_by("id").values_list("kind", "site_id", "record_type", "record_id", "rows")
    ) == [
        (AccessKind.PROCEDURE_PAGE, site_a.pk, "procedures.procedure", level.procedure_id, None),
        (AccessKind.LOT_RECALL_EXPORT, None, "", None, 2),
    ]


def test_a_research_export_is_in_the_access_log(site_a, investigator_a, client_for):
    from tests.factories import TreatedLevelFactory

    TreatedLevelFactory(procedure=ProcedureFactory(patient=PatientFactory(site=site_a)))
    response = client_for(investigator_a).post(reverse("reports:research_export"), {"file_format": "csv"})
    assert response.status_code == 200
    entry = AccessLogEntry.objects.get()
    assert (entry.user, entry.kind, entry.site, entry.rows) == (investigator_a, AccessKind.RESEARCH_EXPORT, site_a, 1)
