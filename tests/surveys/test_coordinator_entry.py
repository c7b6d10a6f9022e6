"""A coordinator enters a survey (baseline, or a missed one by phone or paper): same service and scoring."""

from decimal import Decimal

import pytest

from registry.followup import lifecycle, scoring, services
from registry.followup.models import EventStatus, FollowUpEvent, SurveyResponse, WorklistItem, WorklistKind
from registry.surveys.models import SurveyDraft
from tests.factories import PatientFactory, ProcedureFactory
from tests.surveys.conftest import DAY0, ODI_ALL_TWO, at, open_link

pytestmark = pytest.mark.django_db


@pytest.fixture
def planned(site_a):
    patient = PatientFactory(site=site_a, email="rosa@example.test")
    procedure = ProcedureFactory(patient=patient, performed_on=DAY0)
    services.followup_schedule_procedure(procedure_id=procedure.pk, now=at(0, 12))
    return patient


def event(patient, code):
    return FollowUpEvent.objects.get(patient=patient, event_code=code)


def test_coordinator_enters_the_baseline_by_paper_with_karnofsky(client_for, coordinator_a, planned):
    c = client_for(coordinator_a)
    baseline = event(planned, "baseline")
    # The list offers the baseline
    listing = c.get(f"/s/entry/{planned.pk}/")
    assert listing.status_code == 200
    assert f"/s/entry/{planned.pk}/{baseline.pk}/" in listing.content.decode()
    # The form asks VAS, ODI and Karnofsky (baseline instruments), not red flags
    form = c.get(f"/s/entry/{planned.pk}/{baseline.pk}/").content.decode()
    assert "Karnofsky" in form and "rf_fever_chills" not in form
    odi = {**ODI_ALL_TWO, "odi_sex_life": "", "odi_travelling": "5"}
    response = c.post(
        f"/s/entry/{planned.pk}/{baseline.pk}/",
        {"source": "paper", "collected_on": "2026-02-01", "vas": "7.5", "karnofsky": "70", **odi},
    )
    assert response.status_code == 302
    stored = SurveyResponse.objects.get(event=baseline)
    expected = scoring.odi_score({k.removeprefix("odi_"): int(v) for k, v in odi.items() if v})
    assert stored.odi_percent == expected.rounded_percent
    assert stored.vas == Decimal("7.5") and stored.karnofsky == 70
    assert stored.source == "paper" and stored.entered_by == coordinator_a
    assert str(stored.collected_on) == "2026-02-01"
    assert stored.history.first().history_user == coordinator_a
    # And the patient page shows the scored response
    page = c.get(f"/patients/{planned.pk}/").content.decode()
    assert f"{stored.odi_percent} %" in page


def test_missed_survey_entered_by_phone_completes_the_event_and_closes_the_call(
    client_for, coordinator_a, planned, clock
):
    # Given the early window closed unanswered: the event is missed and on the phone worklist
    early = event(planned, "early")
    lifecycle.open_events(event_ids=[early.pk], now=at(14))
    lifecycle.miss_event(event_id=early.pk, now=at(43))
    assert WorklistItem.objects.filter(event=early, kind=WorklistKind.MISSED_EVENT, status="open").exists()
    # When, on day 45, the coordinator enters the answers taken by phone
    clock.set(at(45))
    response = client_for(coordinator_a).post(
        f"/s/entry/{planned.pk}/{early.pk}/",
        {"source": "phone", "collected_on": "2026-03-17", "vas": "3", **ODI_ALL_TWO, "rf_wound": "no"},
    )
    # Then the event is completed and the call item is done
    assert response.status_code == 302
    early.refresh_from_db()
    assert early.status == EventStatus.COMPLETED
    assert SurveyResponse.objects.get(event=early).source == "phone"
    assert not WorklistItem.objects.filter(event=early, kind=WorklistKind.MISSED_EVENT, status="open").exists()


def test_a_bad_value_is_explained_and_nothing_typed_is_lost(client_for, coordinator_a, planned):
    baseline = event(planned, "baseline")
    response = client_for(coordinator_a).post(
        f"/s/entry/{planned.pk}/{baseline.pk}/",
        {"source": "phone", "collected_on": "2026-02-01", "vas": "12", **ODI_ALL_TWO},
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "Enter a number from 0 to 10" in html
    assert 'value="12"' in html
    assert 'id="id_odi_walking_2" name="odi_walking" value="2" checked' in html
    assert not SurveyResponse.objects.exists()


def test_an_empty_entry_is_refused_by_the_service(client_for, coordinator_a, planned):
    baseline = event(planned, "baseline")
    response = client_for(coordinator_a).post(
        f"/s/entry/{planned.pk}/{baseline.pk}/", {"source": "phone", "collected_on": "2026-02-01"}
    )
    assert response.status_code == 200
    assert "Nothing was answered" in response.content.decode()


def test_a_future_collection_date_is_refused(client_for, coordinator_a, planned):
    baseline = event(planned, "baseline")
    response = client_for(coordinator_a).post(
        f"/s/entry/{planned.pk}/{baseline.pk}/", {"source": "phone", "collected_on": "2027-01-01", "vas": "3"}
    )
    assert "This date is in the future." in response.content.decode()


def test_coordinator_entry_spends_an_open_link_and_drops_its_draft(client_for, coordinator_a, site_a):
    link = open_link(PatientFactory(site=site_a, email="eva@example.test"))
    services_draft = SurveyDraft.objects.create(invitation=link.invitation, answers={"vas": "4"})
    response = client_for(coordinator_a).post(
        f"/s/entry/{link.patient.pk}/{link.event.pk}/", {"source": "clinic", "collected_on": "2026-02-16", "vas": "4"}
    )
    assert response.status_code == 302
    link.invitation.refresh_from_db()
    assert link.invitation.is_spent
    assert not SurveyDraft.objects.filter(pk=services_draft.pk).exists()


def test_another_sites_coordinator_and_a_reviewer_get_404(client_for, coordinator_b, reviewer_a, planned):
    baseline = event(planned, "baseline")
    for user in (coordinator_b, reviewer_a):
        c = client_for(user)
        assert c.get(f"/s/entry/{planned.pk}/").status_code == 404
        assert c.get(f"/s/entry/{planned.pk}/{baseline.pk}/").status_code == 404
        assert c.post(f"/s/entry/{planned.pk}/{baseline.pk}/", {"source": "phone", "vas": "3"}).status_code == 404
    assert not SurveyResponse.objects.exists()


def test_an_answered_event_cannot_be_entered_twice(client_for, coordinator_a, planned):
    baseline = event(planned, "baseline")
    c = client_for(coordinator_a)
    c.post(f"/s/entry/{planned.pk}/{baseline.pk}/", {"source": "phone", "collected_on": "2026-02-01", "vas": "3"})
    assert c.get(f"/s/entry/{planned.pk}/{baseline.pk}/").status_code == 404
    assert f"/s/entry/{planned.pk}/{baseline.pk}/" not in c.get(f"/s/entry/{planned.pk}/").content.decode()


def test_anonymous_user_is_sent_to_login(client, planned):
    response = client.get(f"/s/entry/{planned.pk}/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_patient_page_survey_list_costs_the_same_queries_for_one_or_many_responses(client_for, coordinator_a, planned):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    c = client_for(coordinator_a)

    def enter(code):
        response = c.post(
            f"/s/entry/{planned.pk}/{event(planned, code).pk}/",
            {"source": "phone", "collected_on": "2026-02-16", "vas": "3", **ODI_ALL_TWO},
        )
        assert response.status_code == 302

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert c.get(f"/patients/{planned.pk}/").status_code == 200
        return len(captured)

    enter("baseline")
    one = queries()
    enter("early")
    enter("m3")
    assert SurveyResponse.objects.filter(patient=planned).count() == 3
    assert queries() == one
