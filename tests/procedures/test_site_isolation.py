"""Every case-capture screen answers 404 for another site's record and for reviewers."""

import pytest
from django.urls import reverse

from tests.factories import CementLeakFactory, ComplicationFactory, PatientFactory, TreatedLevelFactory


@pytest.fixture
def case_of_site_a(site_a):
    level = TreatedLevelFactory(procedure__patient=PatientFactory(site=site_a))
    leak = CementLeakFactory(treated_level=level)
    complication = ComplicationFactory(procedure=level.procedure)
    return {
        "patient": level.procedure.patient.pk,
        "procedure": level.procedure.pk,
        "level": level.pk,
        "leak": leak.pk,
        "complication": complication.pk,
    }


SCREENS = [
    ("patients:detail", "patient"),
    ("patients:edit", "patient"),
    ("patients:consent", "patient"),
    ("patients:withdraw", "patient"),
    ("patients:deceased", "patient"),
    ("procedures:edit", "procedure"),
    ("procedures:level_add", "procedure"),
    ("procedures:complication_add", "procedure"),
    ("procedures:level_edit", "level"),
    ("procedures:level_delete", "level"),
    ("procedures:leak_add", "level"),
    ("procedures:leak_edit", "leak"),
    ("procedures:leak_delete", "leak"),
    ("procedures:complication_edit", "complication"),
]


@pytest.mark.parametrize(("name", "kind"), SCREENS)
def test_coordinator_of_another_site_gets_404(client_for, coordinator_b, case_of_site_a, name, kind):
    url = reverse(name, args=[case_of_site_a[kind]])
    client = client_for(coordinator_b)
    assert client.get(url).status_code == 404
    assert client.post(url, {}).status_code == 404


@pytest.mark.parametrize(("name", "kind"), SCREENS)
def test_reviewer_gets_404(client_for, reviewer_a, case_of_site_a, name, kind):
    assert client_for(reviewer_a).get(reverse(name, args=[case_of_site_a[kind]])).status_code == 404


@pytest.mark.parametrize(("name", "kind"), SCREENS)
def test_coordinator_of_the_site_can_open_it(client_for, coordinator_a, case_of_site_a, name, kind):
    assert client_for(coordinator_a).get(reverse(name, args=[case_of_site_a[kind]])).status_code == 200


@pytest.mark.parametrize("name", ["patients:list", "procedures:new_case", "procedures:lot_recall"])
def test_reviewer_gets_404_on_identified_lists(client_for, reviewer_a, name):
    assert client_for(reviewer_a).get(reverse(name)).status_code == 404


def test_anonymous_users_are_sent_to_log_in(client, case_of_site_a):
    response = client.get(reverse("patients:detail", args=[case_of_site_a["patient"]]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_nothing_changes_when_another_site_posts(client_for, coordinator_b, case_of_site_a):
    from registry.procedures.models import CementLeak, TreatedLevel

    client_for(coordinator_b).post(reverse("procedures:level_delete", args=[case_of_site_a["level"]]))
    client_for(coordinator_b).post(reverse("procedures:leak_delete", args=[case_of_site_a["leak"]]))
    assert TreatedLevel.objects.filter(pk=case_of_site_a["level"]).exists()
    assert CementLeak.objects.filter(pk=case_of_site_a["leak"]).exists()


def test_new_case_for_another_sites_patient_link_is_404(client_for, coordinator_b, case_of_site_a):
    url = reverse("procedures:new_case") + f"?patient={case_of_site_a['patient']}"
    assert client_for(coordinator_b).get(url).status_code == 404
