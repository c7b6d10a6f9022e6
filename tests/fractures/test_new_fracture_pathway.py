"""A "new fracture: yes" opens a worklist item; the coordinator records the fracture from it."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from registry.followup import services as followup_services
from registry.followup.models import WorklistItem, WorklistKind, WorklistStatus
from registry.fractures import services
from registry.fractures.models import FractureEvent, FractureLevel, Reintervention, ReinterventionKind
from registry.procedures.models import VertebralLevel as V
from tests.factories import PatientFactory, ProcedureFactory, TreatedLevelFactory
from tests.fractures.conftest import DAY0, at, treated_patient

pytestmark = pytest.mark.django_db


def answer(patient, procedure, new_fracture, *, source="link", acting_user=None, capture):
    with capture(execute=True):
        return followup_services.survey_response_record(
            patient=patient,
            procedure=procedure,
            event_code="m3",
            source=source,
            answers={"vas": "3", "new_fracture": new_fracture},
            acting_user=acting_user,
            collected_on=DAY0 + dt.timedelta(days=90),
            now=at(90),
        )


@pytest.mark.parametrize("source", ["link", "phone"])
def test_a_yes_opens_one_confirm_new_fracture_item(site_a, coordinator_a, django_capture_on_commit_callbacks, source):
    patient, procedure = treated_patient(site_a, V.L1)
    response = answer(
        patient,
        procedure,
        "yes",
        source=source,
        acting_user=coordinator_a if source == "phone" else None,
        capture=django_capture_on_commit_callbacks,
    )

    (item,) = WorklistItem.objects.filter(kind=WorklistKind.CONFIRM_FRACTURE)
    assert (item.patient, item.site, item.response, item.status) == (patient, site_a, response, WorklistStatus.OPEN)
    assert item.due_on == DAY0 + dt.timedelta(days=90)
    # Announced again (a retried receiver): still one item.
    services.fracture_screen_open(response_id=response.pk)
    assert WorklistItem.objects.filter(kind=WorklistKind.CONFIRM_FRACTURE).count() == 1


@pytest.mark.parametrize("answered", ["no", "not_sure"])
def test_no_or_not_sure_opens_nothing(site_a, django_capture_on_commit_callbacks, answered):
    patient, procedure = treated_patient(site_a, V.L1)
    answer(patient, procedure, answered, capture=django_capture_on_commit_callbacks)
    assert not WorklistItem.objects.filter(kind=WorklistKind.CONFIRM_FRACTURE).exists()


def test_recording_from_the_item_classifies_levels_closes_the_item_and_is_audited(
    site_a, coordinator_a, django_capture_on_commit_callbacks
):
    patient, procedure = treated_patient(site_a, V.T12, V.L2)
    response = answer(patient, procedure, "yes", capture=django_capture_on_commit_callbacks)
    item = WorklistItem.objects.get(kind=WorklistKind.CONFIRM_FRACTURE)

    fracture = services.fracture_record(
        patient=patient,
        acting_user=coordinator_a,
        levels=[V.L3, V.L1, V.T8, V.L2],
        diagnosed_on=DAY0 + dt.timedelta(days=95),
        confirmed_by="mri",
        symptomatic=True,
        worklist_item=item,
        now=at(96),
    )

    classes = dict(FractureLevel.objects.filter(fracture=fracture).values_list("level", "classification"))
    assert classes == {V.T8: "remote", V.L1: "adjacent", V.L2: "index", V.L3: "adjacent"}
    assert fracture.index_procedure == procedure and fracture.reported_in == response
    item.refresh_from_db()
    assert item.status == WorklistStatus.DONE and item.done_by == coordinator_a
    assert fracture.history.get().history_user == coordinator_a
    assert {h.history_user for h in FractureLevel.history.all()} == {coordinator_a}


def test_levels_treated_after_the_diagnosis_do_not_count(site_a, coordinator_a):
    patient, _ = treated_patient(site_a, V.L1)
    later = ProcedureFactory(patient=patient, performed_on=DAY0 + dt.timedelta(days=100))
    TreatedLevelFactory(procedure=later, level=V.L3)

    fracture = services.fracture_record(
        patient=patient,
        acting_user=coordinator_a,
        levels=[V.L3],
        diagnosed_on=DAY0 + dt.timedelta(days=90),
        confirmed_by="radiograph",
        symptomatic=False,
    )

    assert fracture.levels.get().classification == "remote"


def test_bad_input_fails_with_a_message_per_field_and_saves_nothing(site_a, coordinator_a):
    patient, _ = treated_patient(site_a, V.L1)
    with pytest.raises(ValidationError) as caught:
        services.fracture_record(
            patient=patient,
            acting_user=coordinator_a,
            levels=[V.L2, V.L2, *range(30)],
            diagnosed_on=DAY0,
            confirmed_by="ultrasound",
            symptomatic=True,
            note="n" * 4001,
        )
    assert set(caught.value.message_dict) == {"levels", "confirmed_by", "diagnosed_on", "note"}
    assert caught.value.message_dict["note"] == ["Keep this to 4000 characters."]
    assert not FractureEvent.objects.exists()


def test_notes_are_bounded_in_the_database_too(site_a, coordinator_a):
    """A note that bypasses the services (a script, a raw update) is refused by the database."""
    patient, _ = treated_patient(site_a, V.L1)
    fracture = services.fracture_record(
        patient=patient,
        acting_user=coordinator_a,
        levels=[V.L2],
        diagnosed_on=DAY0 + dt.timedelta(days=30),
        confirmed_by="ct",
        symptomatic=True,
        note="Seen on CT.",
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        FractureEvent.objects.filter(pk=fracture.pk).update(note="x" * 4001)
    fracture.refresh_from_db()
    assert fracture.note == "Seen on CT."


def test_another_sites_coordinator_may_not_record(site_a, coordinator_b):
    patient, _ = treated_patient(site_a, V.L1)
    with pytest.raises(PermissionDenied):
        services.fracture_record(
            patient=patient,
            acting_user=coordinator_b,
            levels=[V.L2],
            diagnosed_on=DAY0 + dt.timedelta(days=30),
            confirmed_by="ct",
            symptomatic=True,
        )


def test_a_later_procedure_on_a_treated_level_is_a_reaugmentation_linked_to_the_fracture(site_a, coordinator_a):
    patient, index = treated_patient(site_a, V.L1, V.L2)
    fracture = services.fracture_record(
        patient=patient,
        acting_user=coordinator_a,
        levels=[V.L1],
        diagnosed_on=DAY0 + dt.timedelta(days=60),
        confirmed_by="mri",
        symptomatic=True,
    )
    again = ProcedureFactory(patient=patient, performed_on=DAY0 + dt.timedelta(days=70))
    TreatedLevelFactory(procedure=again, level=V.L1)
    TreatedLevelFactory(procedure=again, level=V.T11)

    created = services.reaugmentations_detect(procedure_id=again.pk)
    services.reaugmentations_detect(procedure_id=again.pk)  # a second run adds nothing

    (row,) = Reintervention.objects.all()
    assert created == [row]
    assert (row.kind, row.index_level.procedure, row.index_level.level) == (
        ReinterventionKind.REAUGMENTATION,
        index,
        V.L1,
    )
    assert (row.procedure, row.fracture, row.performed_on) == (again, fracture, again.performed_on)


def test_recording_page_from_the_worklist(client_for, site_a, coordinator_a, django_capture_on_commit_callbacks):
    patient, procedure = treated_patient(site_a, V.L1)
    answer(patient, procedure, "yes", capture=django_capture_on_commit_callbacks)
    item = WorklistItem.objects.get(kind=WorklistKind.CONFIRM_FRACTURE)
    c = client_for(coordinator_a)
    worklist = c.get("/worklist/").content.decode()
    assert f"/patients/{patient.pk}/fractures/new/?item={item.pk}" in worklist

    response = c.post(
        f"/patients/{patient.pk}/fractures/new/?item={item.pk}",
        {"levels": [str(V.T12)], "diagnosed_on": "2026-05-05", "confirmed_by": "radiograph", "symptomatic": "yes"},
    )

    assert response.status_code == 302
    page = c.get(f"/patients/{patient.pk}/").content.decode()
    assert "T12: Adjacent level" in page and "(thoracolumbar junction)" in page


def test_another_sites_patient_page_is_404(client_for, site_a, coordinator_b):
    patient = PatientFactory(site=site_a)
    assert client_for(coordinator_b).get(f"/patients/{patient.pk}/fractures/new/").status_code == 404


def test_open_surgery_for_a_treated_level_from_the_patient_page_is_linked_and_audited(
    client_for, site_a, coordinator_a
):
    patient, procedure = treated_patient(site_a, V.L1)
    level = procedure.levels.get()
    fracture = services.fracture_record(
        patient=patient,
        acting_user=coordinator_a,
        levels=[V.L1],
        diagnosed_on=DAY0 + dt.timedelta(days=60),
        confirmed_by="ct",
        symptomatic=True,
    )
    c = client_for(coordinator_a)
    assert f"/levels/{level.pk}/reoperation/" in c.get(f"/patients/{patient.pk}/").content.decode()

    response = c.post(f"/levels/{level.pk}/reoperation/", {"performed_on": "2026-04-20", "fracture": fracture.pk})

    assert response.status_code == 302
    row = Reintervention.objects.get()
    assert (row.kind, row.index_level, row.fracture, row.recorded_by) == (
        "open_surgery",
        level,
        fracture,
        coordinator_a,
    )
    page = c.get(f"/patients/{patient.pk}/").content.decode()
    assert "L1: Index-level refracture / collapse" in page and "Open surgery for the same fracture" in page
    # The history names who created the fracture, its level and the re-operation.
    assert page.count("· Ana · Created") == 3


def test_another_sites_level_has_no_reoperation_page(client_for, site_a, coordinator_b):
    _, procedure = treated_patient(site_a, V.L1)
    assert client_for(coordinator_b).get(f"/levels/{procedure.levels.get().pk}/reoperation/").status_code == 404
