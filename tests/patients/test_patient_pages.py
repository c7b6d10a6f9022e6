"""The patient list and the patient page as a coordinator uses them."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from registry.patients import services
from registry.patients.models import Patient
from tests.factories import (
    CementLeakFactory,
    ComplicationFactory,
    PatientFactory,
    ProcedureFactory,
    TreatedLevelFactory,
)
from tests.procedures.builders import days_ago

LIST = reverse("patients:list")


def test_the_list_shows_only_the_users_sites(client_for, coordinator_a, site_a, site_b):
    mine = PatientFactory(site=site_a, family_name="Mine")
    theirs = PatientFactory(site=site_b, family_name="Theirs")
    html = client_for(coordinator_a).get(LIST).content.decode()
    assert mine.study_id in html and theirs.study_id not in html


def test_search_goes_by_post_and_never_puts_the_name_in_a_url(client_for, coordinator_a, site_a):
    wanted = PatientFactory(site=site_a, given_name="Remedios", family_name="Varo", mrn="H-31")
    other = PatientFactory(site=site_a, given_name="Frida", family_name="Kahlo")
    client = client_for(coordinator_a)

    response = client.post(LIST + "?procedure_type=", {"q": "varo"})

    assert response.status_code == 302
    assert "varo" not in response["Location"].lower()
    html = client.get(response["Location"]).content.decode()
    assert wanted.study_id in html and other.study_id not in html
    # The search stays for the following pages until cleared.
    assert wanted.study_id in client.get(LIST).content.decode()
    client.post(LIST, {"clear": "1"})
    assert other.study_id in client.get(LIST).content.decode()


@pytest.mark.parametrize(
    "query",
    ["TOL-000007", "tol-7", "tol 7", "000007", "h-99", "H-99", "ramón pérez", "Pérez"],
)
def test_search_by_study_id_mrn_or_name(client_for, coordinator_a, site_a, query):
    wanted = PatientFactory(site=site_a, study_id="TOL-000007", mrn="H-99", given_name="Ramón", family_name="Pérez")
    PatientFactory(site=site_a, study_id="TOL-000070", mrn="H-9", given_name="Ana", family_name="Gil")
    client = client_for(coordinator_a)
    client.post(LIST, {"q": query})
    page = client.get(LIST).context["page"]
    assert [p.pk for p in page.object_list] == [wanted.pk]


def test_filters_by_procedure_type_indication_and_follow_up_status(client_for, coordinator_a, site_a):
    pkp = ProcedureFactory(patient=PatientFactory(site=site_a), procedure_type="PKP", indication="metastasis").patient
    pvp = ProcedureFactory(patient=PatientFactory(site=site_a), procedure_type="PVP").patient
    withdrawn = PatientFactory(site=site_a, consent_status="withdrawn")
    deceased = PatientFactory(site=site_a, deceased_on=days_ago(3))
    client = client_for(coordinator_a)

    def ids(**params):
        return {p.pk for p in client.get(LIST, params).context["page"].object_list}

    assert ids(procedure_type="PKP") == {pkp.pk}
    assert ids(indication="metastasis") == {pkp.pk}
    assert ids(followup_status="withdrawn") == {withdrawn.pk}
    assert ids(followup_status="deceased") == {deceased.pk}
    assert ids(followup_status="active") == {pkp.pk, pvp.pk}


def test_the_list_costs_the_same_queries_for_25_or_100_rows(
    client_for, coordinator_a, site_a, django_assert_num_queries
):
    for _ in range(110):
        ProcedureFactory(patient=PatientFactory(site=site_a))
    client = client_for(coordinator_a)
    client.get(LIST)  # warm the session

    with CaptureQueriesContext(connection) as first:
        small = client.get(LIST, {"per_page": 25, "procedure_type": "PVP"})
    assert len(small.context["page"].object_list) == 25
    # session, user, memberships, count, page ids, page rows, session save (+ nav: worklist badge, review link)
    assert len(first) <= 13

    with django_assert_num_queries(len(first)):
        large = client.get(LIST, {"per_page": 100, "procedure_type": "PVP"})
    assert len(large.context["page"].object_list) == 100
    with django_assert_num_queries(len(first)):
        client.get(LIST, {"per_page": 25, "page": 4})


def test_pagination_keeps_the_filters(client_for, coordinator_a, site_a):
    for _ in range(30):
        ProcedureFactory(patient=PatientFactory(site=site_a), procedure_type="PKP")
    html = client_for(coordinator_a).get(LIST, {"procedure_type": "PKP"}).content.decode()
    assert "procedure_type=PKP&amp;page=2" in html


# --- Patient page -------------------------------------------------------------------------------


def test_the_patient_page_shows_the_case_and_who_changed_what(client_for, coordinator_a, site_a):
    patient = PatientFactory(site=site_a, phone="+34 600 1")
    level = TreatedLevelFactory(procedure__patient=patient, cement_volume_ml=3, vertebral_body_volume_cc=30)
    complication = ComplicationFactory(procedure=level.procedure, symptomatic=True)
    CementLeakFactory(treated_level=level, location="venous_segmental", symptomatic=True, complication=complication)
    services.patient_update(patient=patient, acting_user=coordinator_a, data={"phone": "+34 600 2"})

    html = client_for(coordinator_a).get(reverse("patients:detail", args=[patient.pk])).content.decode()

    assert patient.study_id in html and patient.family_name in html
    assert "L1" in html and "10.0 %" in html  # fill: 3 / 30
    assert "Venous — segmental" in html and "Cement embolism — pulmonary (PCE)" in html
    assert "Audit history" in html
    assert "<del>+34 600 1</del> → <ins>+34 600 2</ins>" in html
    assert "coord_a" in html or "Ana" in html


def test_the_audit_trail_is_newest_first(coordinator_a, site_a):
    from registry.patients.selectors import patient_audit_trail

    patient = PatientFactory(site=site_a)
    services.patient_update(patient=patient, acting_user=coordinator_a, data={"phone": "1"})
    services.patient_update(patient=patient, acting_user=coordinator_a, data={"phone": "2"})
    trail = patient_audit_trail(patient=patient)
    assert [e.changes[0]["new"] for e in trail if e.changes] == ["2", "1"]
    assert trail[0].when >= trail[-1].when


def test_patient_page_works_without_the_follow_up_include(client_for, coordinator_a, site_a):
    patient = PatientFactory(site=site_a)
    response = client_for(coordinator_a).get(reverse("patients:detail", args=[patient.pk]))
    assert response.status_code == 200
    assert "Follow-up" in response.content.decode()


def test_editing_a_patient_with_an_error_keeps_the_values_and_saves_nothing(client_for, coordinator_a, site_a):
    patient = PatientFactory(site=site_a, phone="+34 600 1", date_of_birth=dt.date(1950, 1, 1))
    url = reverse("patients:edit", args=[patient.pk])
    data = {
        "mrn": patient.mrn,
        "given_name": "Changed",
        "family_name": patient.family_name,
        "date_of_birth": "1950-01-01",
        "sex": "female",
        "email": patient.email,
        "phone": "+34 600 9",
        "preferred_language": "en",
        "osteoporosis_therapy": "none",
        "lowest_t_score": "-7.5",
        "karnofsky": "65",
    }
    response = client_for(coordinator_a).post(url, data)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'value="-7.5"' in html and 'value="Changed"' in html
    assert "greater than or equal to -7.0" in html and "steps of 10" in html
    patient.refresh_from_db()
    assert patient.given_name != "Changed" and patient.phone == "+34 600 1"


def test_withdrawing_consent_from_the_patient_page(client_for, coordinator_a, site_a):
    patient = PatientFactory(site=site_a)
    url = reverse("patients:withdraw", args=[patient.pk])
    response = client_for(coordinator_a).post(url, {"effective_on": days_ago(0).isoformat(), "note": "by phone"})
    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.consent_status == "withdrawn"
    assert patient.consent_events.get().note == "by phone"


def test_marking_a_patient_deceased_refuses_a_future_date(client_for, coordinator_a, site_a):
    patient = PatientFactory(site=site_a)
    url = reverse("patients:deceased", args=[patient.pk])
    tomorrow = (days_ago(0) + dt.timedelta(days=1)).isoformat()
    response = client_for(coordinator_a).post(url, {"deceased_on": tomorrow})
    assert response.status_code == 200 and "in the future" in response.content.decode()
    assert Patient.objects.get(pk=patient.pk).deceased_on is None
    assert client_for(coordinator_a).post(url, {"deceased_on": days_ago(1).isoformat()}).status_code == 302
    assert Patient.objects.get(pk=patient.pk).deceased_on == days_ago(1)


def test_recording_consent_from_the_patient_page(client_for, coordinator_a, site_a):
    patient = PatientFactory(site=site_a, consent_status="pending", consent_date=None)
    url = reverse("patients:consent", args=[patient.pk])
    response = client_for(coordinator_a).post(
        url, {"status": "consented", "effective_on": days_ago(2).isoformat(), "form_version": "v4"}
    )
    assert response.status_code == 302
    patient.refresh_from_db()
    assert (patient.consent_status, patient.consent_date, patient.consent_form_version) == (
        "consented",
        days_ago(2),
        "v4",
    )
