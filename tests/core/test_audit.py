import pytest

from registry.core.audit import acting_as, field_changes, system_user
from tests.factories import PatientFactory


def test_change_made_by_a_task_or_command_records_its_actor(coordinator_a, site_a):
    patient = PatientFactory(site=site_a, phone="")
    with acting_as(coordinator_a):
        patient.phone = "+34 600 000 000"
        patient.save()

    latest = patient.history.first()
    assert latest.history_user == coordinator_a
    assert latest.history_type == "~"
    assert {"field": "phone", "old": "", "new": "+34 600 000 000"} in field_changes(latest)


def test_automated_changes_are_recorded_under_the_system_account(site_a):
    patient = PatientFactory(site=site_a)
    with acting_as(system_user()):
        patient.contact_opt_out = True
        patient.save()
    assert patient.history.first().history_user.username == "registry-system"
    assert system_user().has_usable_password() is False


def test_change_through_the_admin_records_the_logged_in_user(client_for, admin_user, site_a):
    patient = PatientFactory(site=site_a)
    client = client_for(admin_user)

    response = client.post(
        f"/admin/patients/site/{site_a.pk}/change/",
        {
            "code": site_a.code,
            "name": "Renamed unit",
            "time_zone": site_a.time_zone,
            "contact_email": site_a.contact_email,
            "clinician_email": site_a.clinician_email,
            "contact_phone": "",
            "active": "on",
            "send_from": "09:00",
            "send_until": "19:00",
            "send_weekdays": "12345",
            "staff_language": site_a.staff_language,
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    record = site_a.history.first()
    assert record.history_user == admin_user
    assert record.name == "Renamed unit"
    assert patient.pk


@pytest.mark.django_db
def test_every_clinical_model_is_audited():
    from django.apps import apps

    clinical = [
        "patients.Patient",
        "patients.BoneHealthAction",
        "procedures.Procedure",
        "procedures.TreatedLevel",
        "procedures.CementLeak",
        "procedures.Complication",
        "procedures.CementLot",
    ]
    for label in clinical:
        model = apps.get_model(label)
        assert hasattr(model, "history"), f"{label} has no audit history"
