"""Registering patients, consent, death and opt-out: rules, audit and announcements."""

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.utils import DatabaseError

from registry.core.events import patient_contact_stopped
from registry.patients import services
from registry.patients.models import ConsentEvent, ConsentStatus, Patient, Site
from tests.factories import PatientFactory, ProcedureFactory, Role, SiteFactory, UserFactory, member
from tests.procedures.builders import days_ago, today


def patient_data(**overrides) -> dict:
    data = {
        "mrn": "H-555",
        "given_name": "Carmen",
        "family_name": "López",
        "date_of_birth": dt.date(1941, 7, 9),
        "sex": "female",
        "email": "carmen@example.test",
        "phone": "+34 600 111 222",
        "preferred_language": "es",
    }
    data.update(overrides)
    return data


def register(site, user, **overrides):
    return services.patient_register(site=site, acting_user=user, data=patient_data(**overrides))


def test_study_ids_follow_the_site_code_and_count_per_site(site_a, site_b, coordinator_a, coordinator_b):
    first = register(site_a, coordinator_a, mrn="1")
    second = register(site_a, coordinator_a, mrn="2")
    other_site = register(site_b, coordinator_b, mrn="1")

    assert (first.study_id, second.study_id, other_site.study_id) == ("TOL-000001", "TOL-000002", "BOS-000001")
    assert first.history.get().history_user == coordinator_a


def test_a_refused_registration_does_not_use_up_a_number(site_a, coordinator_a):
    with pytest.raises(ValidationError):
        register(site_a, coordinator_a, date_of_birth=today() + dt.timedelta(days=1))
    assert register(site_a, coordinator_a).study_id == "TOL-000001"


def test_study_id_cannot_be_changed(site_a, coordinator_a):
    patient = register(site_a, coordinator_a)
    with pytest.raises(ValidationError):
        services.patient_update(patient=patient, acting_user=coordinator_a, data={"study_id": "TOL-999999"})
    # Even a bulk update that bypasses the models is refused by the database.
    with pytest.raises(DatabaseError), transaction.atomic():
        Patient.objects.filter(pk=patient.pk).update(study_id="TOL-999999")
    patient.refresh_from_db()
    assert patient.study_id == "TOL-000001"


def test_study_ids_are_unique(site_a, coordinator_a):
    from django.db import IntegrityError

    patient = register(site_a, coordinator_a)
    with pytest.raises(IntegrityError), transaction.atomic():
        PatientFactory(site=site_a, study_id=patient.study_id)


@pytest.mark.django_db(transaction=True)
def test_concurrent_registrations_never_share_a_study_id():
    site = SiteFactory(code="CON")
    user = member(UserFactory(username="concurrent"), site, Role.COORDINATOR)
    results, errors = [], []
    barrier = threading.Barrier(6)

    def worker(n):
        try:
            barrier.wait()
            user.__dict__.pop("_registry_site_ids", None)
            results.append(
                services.patient_register(site=site, acting_user=user, data=patient_data(mrn=f"M{n}")).study_id
            )
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert sorted(results) == [f"CON-{n:06d}" for n in range(1, 7)]
    assert Site.objects.get(pk=site.pk).next_study_number == 7


def test_mrn_is_unique_within_a_site_only(site_a, site_b, coordinator_a, coordinator_b):
    register(site_a, coordinator_a, mrn="H-1")
    register(site_b, coordinator_b, mrn="H-1")
    with pytest.raises(ValidationError) as exc:
        register(site_a, coordinator_a, mrn="H-1")
    assert "__all__" in exc.value.message_dict or "mrn" in exc.value.message_dict


@pytest.mark.parametrize(
    ("field", "value", "ok"),
    [
        ("lowest_t_score", Decimal("-7.0"), True),
        ("lowest_t_score", Decimal("-7.1"), False),
        ("lowest_t_score", Decimal("4.0"), True),
        ("lowest_t_score", Decimal("4.1"), False),
        ("karnofsky", 0, True),
        ("karnofsky", 10, True),
        ("karnofsky", 100, True),
        ("karnofsky", 15, False),
        ("karnofsky", 110, False),
        ("asa_class", 0, False),
        ("asa_class", 1, True),
        ("asa_class", 5, True),
        ("asa_class", 6, False),
        # Dates as callables: read the clock when the test runs, not when pytest collects it (a run
        # that crosses midnight in the site's zone would otherwise test yesterday's "tomorrow").
        ("date_of_birth", today, True),
        ("date_of_birth", lambda: today() + dt.timedelta(days=1), False),
        ("last_dxa_on", lambda: today() + dt.timedelta(days=1), False),
        ("email", "not-an-email", False),
        ("sex", "robot", False),
        ("preferred_language", "fr", False),
    ],
)
def test_patient_field_edges(site_a, coordinator_a, field, value, ok):
    value = value() if callable(value) else value
    extra = {"primary_tumour": "breast"} if field in ("karnofsky", "asa_class") else {}
    if ok:
        assert register(site_a, coordinator_a, **{field: value, **extra}).pk
    else:
        with pytest.raises(ValidationError) as exc:
            register(site_a, coordinator_a, **{field: value, **extra})
        assert field in exc.value.message_dict
        assert not Patient.objects.exists()


def test_consent_at_registration_needs_a_date_and_starts_the_history(site_a, coordinator_a):
    with pytest.raises(ValidationError) as exc:
        register(site_a, coordinator_a, consent_status="consented", consent_date=None)
    assert "consent_date" in exc.value.message_dict
    patient = register(
        site_a, coordinator_a, consent_status="consented", consent_date=days_ago(1), consent_form_version="v3"
    )
    event = patient.consent_events.get()
    assert (event.status, event.effective_on, event.form_version, event.recorded_by) == (
        "consented",
        days_ago(1),
        "v3",
        coordinator_a,
    )


def test_another_sites_coordinator_cannot_register_or_edit(site_a, coordinator_a, coordinator_b, reviewer_a):
    with pytest.raises(PermissionDenied):
        register(site_a, coordinator_b)
    with pytest.raises(PermissionDenied):
        register(site_a, reviewer_a)
    patient = register(site_a, coordinator_a)
    with pytest.raises(PermissionDenied):
        services.patient_update(patient=patient, acting_user=coordinator_b, data={"phone": "1"})


def test_an_edit_is_audited_with_old_and_new_values(site_a, coordinator_a):
    from registry.core.audit import field_changes

    patient = register(site_a, coordinator_a)
    services.patient_update(patient=patient, acting_user=coordinator_a, data={"phone": " +34 699 000 000 "})
    latest = patient.history.first()
    assert latest.history_user == coordinator_a
    assert field_changes(latest) == [{"field": "phone", "old": "+34 600 111 222", "new": "+34 699 000 000"}]


# --- Stopping contact -------------------------------------------------------------------------


@pytest.fixture
def stops():
    heard = []

    def receiver(sender, **kwargs):
        heard.append((kwargs["patient_id"], kwargs["reason"]))

    patient_contact_stopped.connect(receiver, weak=False, dispatch_uid="test-stops")
    yield heard
    patient_contact_stopped.disconnect(dispatch_uid="test-stops")


def test_withdrawal_is_recorded_and_announced_after_commit(
    site_a, coordinator_a, stops, django_capture_on_commit_callbacks
):
    patient = PatientFactory(site=site_a, consent_status=ConsentStatus.CONSENTED, consent_date=days_ago(100))
    with django_capture_on_commit_callbacks(execute=True):
        services.consent_withdraw(patient=patient, acting_user=coordinator_a, effective_on=days_ago(1), note="Phone")
        assert stops == []
    assert stops == [(patient.pk, "withdrawn")]
    patient.refresh_from_db()
    assert patient.consent_status == "withdrawn" and not patient.may_be_contacted
    assert ConsentEvent.objects.get(patient=patient).status == "withdrawn"
    assert patient.history.first().history_user == coordinator_a


def test_withdrawal_in_the_future_is_refused(site_a, coordinator_a, stops, django_capture_on_commit_callbacks):
    patient = PatientFactory(site=site_a)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValidationError):
        services.consent_withdraw(
            patient=patient, acting_user=coordinator_a, effective_on=today() + dt.timedelta(days=1)
        )
    assert stops == []


def test_death_is_recorded_and_announced(site_a, coordinator_a, stops, django_capture_on_commit_callbacks):
    patient = PatientFactory(site=site_a)
    ProcedureFactory(patient=patient, performed_on=days_ago(30))
    with pytest.raises(ValidationError):
        services.patient_mark_deceased(patient=patient, acting_user=coordinator_a, deceased_on=days_ago(31))
    with django_capture_on_commit_callbacks(execute=True):
        services.patient_mark_deceased(patient=patient, acting_user=coordinator_a, deceased_on=days_ago(2))
    assert stops == [(patient.pk, "deceased")]
    patient.refresh_from_db()
    assert patient.deceased_on == days_ago(2)


def test_opt_out_is_announced_once_and_recorded_under_the_system_account(
    site_a, stops, django_capture_on_commit_callbacks
):
    patient = PatientFactory(site=site_a)
    with django_capture_on_commit_callbacks(execute=True):
        services.patient_opt_out(patient=patient)
        services.patient_opt_out(patient=patient)
    assert stops == [(patient.pk, "opted_out")]
    patient.refresh_from_db()
    assert patient.contact_opt_out and patient.contact_opt_out_at
    assert patient.history.first().history_user.username == "registry-system"
