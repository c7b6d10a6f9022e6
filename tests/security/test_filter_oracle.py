"""Attack: learn which ids exist at another site through the API's list filters.

Before: ``?patient=<id>`` answered 400 "Select a valid choice" for an id that does not exist but
200 (an empty list) for another site's existing patient, so a coordinator could enumerate them.
Now every id filter chooses among the caller's own sites' rows: both answers are the same.
"""

# ruff: noqa: F811 (the API fixtures are imported, then requested by name)
import pytest

from tests.api.conftest import api_for, build_case, fresh_throttles, product  # noqa: F401

pytestmark = pytest.mark.django_db

MISSING = 987_654_321

# (endpoint, filter, which record of the case the filter takes)
FILTERS = [
    ("procedures", "patient", "patient"),
    ("treated-levels", "procedure", "procedure"),
    ("leaks", "procedure", "procedure"),
    ("leaks", "treated_level", "level"),
    ("complications", "patient", "patient"),
    ("complications", "procedure", "procedure"),
    ("followup-events", "patient", "patient"),
    ("followup-events", "procedure", "procedure"),
    ("survey-responses", "patient", "patient"),
    ("survey-responses", "procedure", "procedure"),
    ("survey-responses", "event", "answered_event"),
    ("bone-health-actions", "patient", "patient"),
    ("bone-health-actions", "procedure", "procedure"),
    ("worklist-items", "patient", "patient"),
]


def pk_of(case: dict, record: str) -> int:
    return case["response"].event_id if record == "answered_event" else case[record].pk


@pytest.fixture
def case_b(site_b, coordinator_b, product):
    return build_case(site=site_b, user=coordinator_b, product=product, mrn="B0001")


def test_another_sites_id_answers_like_an_id_that_does_not_exist(api_for, coordinator_a, site_a, product, case_b):
    # Given a coordinator of site A with a case of their own, and a case at site B
    own = build_case(site=site_a, user=coordinator_a, product=product)
    api = api_for(coordinator_a)
    for endpoint, name, record in FILTERS:
        # When they filter by site B's existing id and by an id that exists nowhere
        foreign = api.get(f"/api/{endpoint}/", {name: pk_of(case_b, record)})
        missing = api.get(f"/api/{endpoint}/", {name: MISSING})
        # Then both answers are identical: status and body
        assert foreign.status_code == missing.status_code == 400, (endpoint, name)
        assert foreign.json() == missing.json(), (endpoint, name)
        # And the filter still works for their own record
        mine = api.get(f"/api/{endpoint}/", {name: pk_of(own, record)})
        assert mine.status_code == 200 and mine.json()["count"] >= 1, (endpoint, name)
