import datetime as dt

import pytest

from registry.demo.cohort import generate_cohort
from registry.demo.followup import simulate_followup
from registry.followup import scoring
from registry.followup.models import EventStatus, FollowUpEvent, SurveyResponse
from registry.patients.models import ConsentStatus


@pytest.mark.django_db
def test_demo_cohort_gets_planned_follow_up_and_scored_answers(site_a, site_b):
    # Given a small synthetic cohort, written in bulk without any follow-up
    generate_cohort(sites=[site_a, site_b], n_patients=30, seed=5)
    assert not FollowUpEvent.objects.exists()

    # When the demo follow-up is simulated
    counts = simulate_followup(seed=5)

    # Then consented patients have their time points, and answers are scored as any other
    assert counts["procedures_planned"] > 0
    planned_patients = set(FollowUpEvent.objects.values_list("patient__consent_status", flat=True))
    assert planned_patients <= {ConsentStatus.CONSENTED, ConsentStatus.WITHDRAWN}
    responses = list(SurveyResponse.objects.select_related("event"))
    assert len(responses) == counts["responses"] > 0
    today = dt.date.today()
    for response in responses:
        assert response.event.status == EventStatus.COMPLETED
        assert response.event.window_opens_on <= response.collected_on <= min(response.event.window_closes_on, today)
        expected = scoring.odi_score(response.odi_answers)
        assert response.odi_complete == expected.complete
        if expected.complete:
            assert response.odi_percent == expected.rounded_percent


@pytest.mark.django_db
def test_running_the_demo_follow_up_again_never_answers_a_time_point_twice(site_a):
    generate_cohort(sites=[site_a], n_patients=15, seed=9)
    simulate_followup(seed=9)
    simulate_followup(seed=9)
    responses = SurveyResponse.objects.filter(event__isnull=False)
    assert responses.count() == responses.values("event").distinct().count()
    assert responses.count() == FollowUpEvent.objects.filter(status=EventStatus.COMPLETED).count()
