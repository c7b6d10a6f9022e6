import pytest
from django.urls import reverse

from registry.followup import dispatch
from registry.followup.models import WorklistItem, WorklistKind
from registry.patients.models import BoneHealthAction
from tests.factories import PatientFactory
from tests.followup.conftest import at, record_procedure

pytestmark = pytest.mark.django_db


@pytest.fixture
def items(site_a, site_b, clock):
    """A missed survey and a DXA reminder at site A, a missed survey at site B."""
    a = PatientFactory(site=site_a, given_name="Ana", phone="+34 600 000 000", osteoporosis_therapy="denosumab")
    b = PatientFactory(site=site_b, given_name="Beth", osteoporosis_therapy="denosumab")
    record_procedure(a)
    record_procedure(b)
    for day in (14, 43, 83):
        clock.set(at(day))
        dispatch.followup_sweep(now=at(day), queue=lambda pk: None)
    return a, b


def test_coordinator_sees_only_their_sites_items(client_for, coordinator_a, items, django_assert_max_num_queries):
    a, b = items
    client = client_for(coordinator_a)
    with django_assert_max_num_queries(13):  # + the nav's review link (adjudicator sites)
        page = client.get(reverse("followup:worklist"))
    content = page.content.decode()
    assert page.status_code == 200
    assert a.study_id in content and "+34 600 000 000" in content
    assert b.study_id not in content and "Beth" not in content
    # The early survey missed on day 43 and the DXA reminder of day 83
    assert page.context["nav_counts"]["worklist"] == 2


def test_reviewer_gets_404(client_for, reviewer_a, items):
    assert client_for(reviewer_a).get(reverse("followup:worklist")).status_code == 404


def test_mark_a_call_done_with_a_note(client_for, coordinator_a, items):
    item = WorklistItem.objects.get(site__code="TOL", kind=WorklistKind.MISSED_EVENT, event__event_code="early")
    response = client_for(coordinator_a).post(
        reverse("followup:worklist_done", args=[item.pk]), {"note": "No answer; left a message."}
    )
    assert response.status_code == 302
    item.refresh_from_db()
    assert (item.status, item.note, item.done_by) == ("done", "No answer; left a message.", coordinator_a)


def test_another_sites_item_is_404(client_for, coordinator_a, items):
    other = WorklistItem.objects.filter(site__code="BOS").first()
    response = client_for(coordinator_a).post(reverse("followup:worklist_done", args=[other.pk]), {"note": "x"})
    assert response.status_code == 404
    other.refresh_from_db()
    assert other.status == "open"


def test_bone_health_item_records_the_outcome_and_stops_reminders(client_for, coordinator_a, items, clock):
    item = WorklistItem.objects.get(site__code="TOL", kind=WorklistKind.BONE_HEALTH)
    client = client_for(coordinator_a)

    missing_date = client.post(reverse("followup:worklist_done", args=[item.pk]), {"outcome": "done"}, follow=True)
    assert "Give the date" in missing_date.content.decode()

    client.post(reverse("followup:worklist_done", args=[item.pk]), {"outcome": "declined", "note": "Patient declined"})
    action = BoneHealthAction.objects.get(pk=item.bone_health_action_id)
    assert (action.status, action.acted_by) == ("declined", coordinator_a)
    item.refresh_from_db()
    assert item.status == "done"
    assert not action.messages.filter(status="pending").exists()
