"""The worklist of a busy coordinator: pages, filters, counts, links, labels and assignment."""

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from registry.followup import services
from registry.followup.models import SurveyResponse, WorklistItem, WorklistKind
from registry.followup.selectors import WORKLIST_PAGE_SIZE
from tests.factories import PatientFactory, Role, UserFactory, member
from tests.followup.conftest import DAY0, at, record_procedure

pytestmark = pytest.mark.django_db

TODAY = DAY0  # the frozen clock's date (tests/followup/conftest.py)


def bulk_items(patients, n, *, kind=WorklistKind.PHONE_DUE, due_on=TODAY, **fields):
    """``n`` open items spread over ``patients``, in one INSERT (the sources need no rows)."""
    WorklistItem.objects.bulk_create(
        [
            WorklistItem(
                site_id=patients[i % len(patients)].site_id,
                patient=patients[i % len(patients)],
                kind=kind,
                due_on=due_on,
                **fields,
            )
            for i in range(n)
        ],
        batch_size=2000,
    )


def page_queries(client, url) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries), response.content.decode()


def test_ten_thousand_items_come_in_pages_at_a_flat_query_count(client_for, coordinator_a, site_a):
    # Given ten open items at the coordinator's site
    patients = [PatientFactory(site=site_a) for _ in range(20)]
    bulk_items(patients, 10)
    client = client_for(coordinator_a)
    url = reverse("followup:worklist")
    few, _ = page_queries(client, url)
    # When there are 10,000
    bulk_items(patients, 9_990, due_on=TODAY - dt.timedelta(days=3))
    many, html = page_queries(client, url)
    # Then the first page shows 50 rows, says how many pages there are, and costs the same queries
    assert many == few, (few, many)
    assert html.count('<tr id="item-') == WORKLIST_PAGE_SIZE
    assert "Page 1 of 200 (10000 items)" in html
    # And the last page holds the 10 items due today (oldest due first), at the same cost
    last, html = page_queries(client, f"{url}?page=200")
    assert last == few
    assert html.count('<tr id="item-') == 50
    assert "Page 200 of 200" in html


def test_filters_narrow_the_list_and_counts_show_each_kind(client_for, coordinator_a, site_a, site_b):
    # Given calls, bone-health and failed-email items at site A (two overdue) and calls at site B
    a = [PatientFactory(site=site_a)]
    bulk_items(a, 3)
    bulk_items(a, 2, kind=WorklistKind.BONE_HEALTH, due_on=TODAY - dt.timedelta(days=2))
    bulk_items(a, 1, kind=WorklistKind.FAILED_EMAIL)
    bulk_items([PatientFactory(site=site_b)], 4)
    mine = WorklistItem.objects.filter(site=site_a, kind=WorklistKind.PHONE_DUE).first()
    mine.assigned_to = coordinator_a
    mine.save()
    client = client_for(coordinator_a)
    url = reverse("followup:worklist")

    def rows(query: str) -> int:
        return client.get(f"{url}?{query}").content.decode().count('<tr id="item-')

    # Then each filter gives what a coordinator expects (site B is never counted)
    assert rows("") == 6
    assert rows("kind=bone_health") == 2
    assert rows("when=overdue") == 2
    assert rows("when=today") == 4
    assert rows("assignee=me") == 1
    assert rows("assignee=none") == 5
    assert rows(f"site={site_a.pk}&kind=phone_due") == 3
    # A site the coordinator does not belong to is not a choice: the filter is dropped, not obeyed
    assert rows(f"site={site_b.pk}") == 6
    # And the counts per kind (with the other filters applied) label every kind
    counts = client.get(f"{url}?when=today").context["counts"]
    assert {kind: n for kind, _label, n in counts if n} == {"phone_due": 3, "failed_email": 1}
    assert {kind: str(label) for kind, label, _n in counts}["bone_health"] == "Bone-health action"


def test_a_missed_call_links_to_the_patient_and_to_survey_entry_by_internal_ids(
    client_for, coordinator_a, site_a, clock
):
    # Given a patient without email whose early window opened (a phone call is due)
    patient = PatientFactory(site=site_a, email="", phone="+34 600 111 222", mrn="MRN-SECRET-1")
    record_procedure(patient)
    from registry.followup import dispatch

    dispatch.followup_sweep(now=clock.set(at(14)), queue=lambda pk: None)
    item = WorklistItem.objects.get(patient=patient, kind=WorklistKind.PHONE_DUE)
    # When the coordinator opens the worklist
    html = client_for(coordinator_a).get(reverse("followup:worklist")).content.decode()
    # Then the study id links to the patient page and "Enter survey" to entry of that event
    assert f'href="{reverse("patients:detail", args=[patient.pk])}"' in html
    entry = reverse("surveys:entry", args=[patient.pk, item.event_id])
    assert f'href="{entry}"' in html
    assert client_for(coordinator_a).get(entry).status_code == 200
    # And no link carries an identifier
    for href in re.findall(r'href="([^"]+)"', html):
        for secret in (patient.study_id, patient.mrn, patient.family_name, "600"):
            assert secret not in href


def test_red_flags_show_their_wording_not_codes(client_for, coordinator_a, site_a):
    patient = PatientFactory(site=site_a)
    services.survey_response_record(
        patient=patient,
        event_code="early",
        source="phone",
        answers={"red_flags": {"new_back_pain": True, "fever_chills": True}},
        acting_user=coordinator_a,
    )
    assert SurveyResponse.objects.filter(patient=patient).exists()
    html = client_for(coordinator_a).get(reverse("followup:worklist") + "?kind=red_flag").content.decode()
    assert "Fever or chills" in html
    assert "new_back_pain" not in html and "fever_chills" not in html
    spanish = client_for(coordinator_a).get(reverse("followup:worklist") + "?kind=red_flag", HTTP_ACCEPT_LANGUAGE="es")
    assert "Fiebre o escalofríos" in spanish.content.decode()


def test_a_coordinator_assigns_an_item_to_a_colleague_of_the_site(
    client_for, coordinator_a, investigator_a, coordinator_b, site_a
):
    bulk_items([PatientFactory(site=site_a)], 1)
    item = WorklistItem.objects.get()
    client = client_for(coordinator_a)
    assign = reverse("followup:worklist_assign", args=[item.pk])
    # When she gives it to the site's investigator, returning to her filtered page
    response = client.post(assign, {"assignee": investigator_a.pk, "next": "?kind=phone_due&page=1"})
    assert response.status_code == 302 and response["Location"].endswith("/worklist/?kind=phone_due&page=1")
    item.refresh_from_db()
    assert item.assigned_to == investigator_a
    # Then a colleague of another site is refused and the assignment stays
    client.post(assign, {"assignee": coordinator_b.pk})
    item.refresh_from_db()
    assert item.assigned_to == investigator_a
    # And "nobody" releases it
    client.post(assign, {"assignee": ""})
    item.refresh_from_db()
    assert item.assigned_to is None


def test_another_sites_item_cannot_be_assigned(client_for, coordinator_a, coordinator_b, site_b):
    bulk_items([PatientFactory(site=site_b)], 1)
    item = WorklistItem.objects.get()
    response = client_for(coordinator_a).post(
        reverse("followup:worklist_assign", args=[item.pk]), {"assignee": coordinator_a.pk}
    )
    assert response.status_code == 404
    item.refresh_from_db()
    assert item.assigned_to is None


def test_a_reviewer_cannot_assign(client_for, reviewer_a, site_a):
    bulk_items([PatientFactory(site=site_a)], 1)
    item = WorklistItem.objects.get()
    response = client_for(reviewer_a).post(reverse("followup:worklist_assign", args=[item.pk]), {"assignee": ""})
    assert response.status_code == 404


def test_a_withdrawal_puts_a_notice_on_the_worklist(client_for, coordinator_a, site_a, patient):
    # Given a patient in follow-up with a call open
    record_procedure(patient)
    colleague = member(UserFactory(username="coord_a2"), site_a, Role.COORDINATOR)
    # When consent is withdrawn
    services.followup_stop_contact(patient_id=patient.pk, reason="withdrawn", now=at(20))
    # Then the site's worklist holds one "Patient withdrew" notice, for the whole team
    notice = WorklistItem.objects.get(patient=patient, status="open")
    assert notice.kind == WorklistKind.WITHDRAWN
    html = client_for(colleague).get(reverse("followup:worklist")).content.decode()
    assert "Patient withdrew" in html


def test_due_today_is_each_sites_own_today(client_for, site_a, site_b, clock):
    # Given a coordinator of Toledo and Boston, at 00:30 in Toledo on day 10 (18:30 of day 9 in Boston)
    both = member(member(UserFactory(username="coord_ab"), site_a, Role.COORDINATOR), site_b, Role.COORDINATOR)
    clock.set(at(10, 0, 30))
    toledo_today, boston_today = DAY0 + dt.timedelta(days=10), DAY0 + dt.timedelta(days=9)
    bulk_items([PatientFactory(site=site_a)], 1, due_on=toledo_today)
    bulk_items([PatientFactory(site=site_b)], 1, due_on=boston_today)
    client = client_for(both)

    def rows(query: str) -> int:
        return client.get(f"{reverse('followup:worklist')}?{query}").content.decode().count('<tr id="item-')

    # Then both are due today, each in its own site's calendar, and neither is overdue
    assert rows("when=today") == 2
    assert rows("when=overdue") == 0
