"""The patient list over a national registry: the count stops early and the query count does not
depend on the filter, the search or the size of the list (issue #14; the time is benchmarked in
benchmarks/run_scale.py, never asserted here)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from registry.core import pagination
from registry.patients.models import ConsentStatus, FollowUpStatus, Patient
from registry.patients.selectors import followup_status_of
from tests.factories import PatientFactory, ProcedureFactory
from tests.procedures.builders import days_ago

LIST = reverse("patients:list")


@pytest.fixture
def registry_of_60(site_a):
    """60 patients: 40 PVP, 20 PKP metastasis of whom 5 withdrew, one deceased, all named García."""
    for n in range(60):
        patient = PatientFactory(
            site=site_a,
            family_name="García",
            consent_status="withdrawn" if n % 12 == 0 else "consented",
            deceased_on=days_ago(5) if n == 1 else None,
        )
        if n % 3:
            ProcedureFactory(patient=patient, procedure_type="PVP", indication="osteoporotic")
        else:
            ProcedureFactory(patient=patient, procedure_type="PKP", indication="metastasis")


@pytest.fixture
def count_at_least_10(monkeypatch):
    monkeypatch.setattr(pagination, "COUNT_AT_LEAST", 10)


def _queries(client, params=None) -> int:
    """The request's statements without the session's write: the middleware's, not the list's, and
    not made on every request."""
    with CaptureQueriesContext(connection) as queries:
        assert client.get(LIST, params or {}).status_code == 200
    session_write = ("SAVEPOINT", "RELEASE SAVEPOINT", "BEGIN", "COMMIT", 'UPDATE "django_session"')
    return len([q for q in queries.captured_queries if not q["sql"].startswith(session_write)])


@pytest.mark.parametrize(
    "params",
    [
        {"procedure_type": "PKP"},
        {"indication": "metastasis"},
        {"followup_status": "withdrawn"},
        {"followup_status": "active", "procedure_type": "PVP"},
        {"page": 2},
        {"page": "99999999999"},
        {"per_page": 100},
    ],
)
def test_every_filter_costs_the_queries_of_the_plain_list(client_for, coordinator_a, registry_of_60, params):
    client = client_for(coordinator_a)
    client.get(LIST)  # the session is written once
    plain = _queries(client)
    assert _queries(client, params) == plain


@pytest.mark.parametrize("search", ["garcía", "GARC", "study_id", "mrn"])
def test_every_search_costs_the_queries_of_the_plain_list(client_for, coordinator_a, registry_of_60, search):
    someone = Patient.objects.order_by("id").first()
    client = client_for(coordinator_a)
    client.get(LIST)
    plain = _queries(client)
    client.post(LIST, {"q": getattr(someone, search, search)})
    assert _queries(client) == plain


def test_an_empty_list_costs_no_more_than_a_full_one(client_for, coordinator_a, registry_of_60):
    client = client_for(coordinator_a)
    client.get(LIST)
    plain = _queries(client)
    assert _queries(client, {"procedure_type": "OTHER"}) < plain  # no page rows to load
    client.post(LIST, {"q": "no such name"})
    assert _queries(client) < plain


def test_a_short_list_is_counted_exactly(client_for, coordinator_a, registry_of_60):
    page = client_for(coordinator_a).get(LIST, {"procedure_type": "PKP"}).context["page"]
    assert page.paginator.count == 20 and page.paginator.count_is_exact
    assert page.paginator.num_pages == 1


def test_a_long_list_stops_counting_and_says_more_than(client_for, coordinator_a, registry_of_60, count_at_least_10):
    # Given a bound of 10 rows or the page asked for and the next (2 x 25 = 50 rows)
    client = client_for(coordinator_a)

    response = client.get(LIST)

    # Then 51 rows are counted, the list says "more than 50", and both full pages are reachable
    page = response.context["page"]
    assert (page.paginator.count, page.paginator.count_bound) == (51, 50)
    assert not page.paginator.count_is_exact
    assert "Page 1 of 3 or more (more than 50 patients)" in response.content.decode()
    assert page.has_next()
    second = client.get(LIST, {"page": 2}).context["page"]
    assert len(second.object_list) == 25
    # Asking for page 3 counts far enough for it: 60 rows in all, exact again
    third = client.get(LIST, {"page": 3}).context["page"]
    assert (third.paginator.count, third.paginator.count_is_exact, len(third.object_list)) == (60, True, 10)


def test_a_long_search_says_more_than(client_for, coordinator_a, registry_of_60, count_at_least_10):
    client = client_for(coordinator_a)
    client.post(LIST, {"q": "García"})
    assert "More than 50 patients match the search." in client.get(LIST).content.decode()


@pytest.mark.parametrize("value", ["0", "-3", "x", "", "99999999999999999999"])
def test_a_hostile_page_number_is_bounded(value):
    assert 1 <= pagination.page_number(value) <= pagination.PAGE_NUMBER_MAX


def test_each_follow_up_filter_lists_exactly_the_patients_labelled_so(client_for, coordinator_a, site_a):
    """The filter (SQL, on its index) and the list's label (read from the loaded patient) follow
    the same rules, for every combination of death, consent and opt-out."""
    # Given a patient for every combination
    for deceased in (None, days_ago(30)):
        for consent in ConsentStatus.values:
            for opted_out in (False, True):
                PatientFactory(site=site_a, deceased_on=deceased, consent_status=consent, contact_opt_out=opted_out)
    client = client_for(coordinator_a)
    labelled = {p.pk: followup_status_of(p) for p in Patient.objects.all()}

    for status in FollowUpStatus.values:
        # When the list is filtered by a status
        page = client.get(LIST, {"followup_status": status}).context["page"]

        # Then it shows exactly the patients whose row says that status
        assert {p.pk for p in page.object_list} == {pk for pk, label in labelled.items() if label == status}, status
        assert all(p.followup_status == status for p in page.object_list)
