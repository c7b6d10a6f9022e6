"""Investigators adjudicate complications and new fractures; the sign-off is audited."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied

from registry.fractures import selectors, services
from registry.procedures.models import Complication, VertebralLevel
from tests.factories import ComplicationFactory
from tests.fractures.conftest import DAY0, at, treated_patient

pytestmark = pytest.mark.django_db


def test_investigator_signs_off_a_complication_with_name_and_time_audited(site_a, investigator_a, coordinator_a):
    _, procedure = treated_patient(site_a, VertebralLevel.L1)
    complication = ComplicationFactory(procedure=procedure, complication_type="neuro_radiculopathy", severity="mild")

    services.complication_adjudicate(
        complication=complication,
        acting_user=investigator_a,
        complication_type="neuro_transient_neuritis",
        severity="moderate",
        relation="related",
        now=at(10),
    )

    complication.refresh_from_db()
    assert (complication.signed_off_by, complication.signed_off_at) == (investigator_a, at(10))
    assert (complication.complication_type, complication.severity, complication.relation_to_procedure) == (
        "neuro_transient_neuritis",
        "moderate",
        "related",
    )
    created, signed = complication.history.order_by("history_id")
    assert signed.history_user == investigator_a
    changed = {c.field for c in signed.diff_against(created).changes}
    assert changed == {"complication_type", "severity", "relation_to_procedure", "signed_off_by", "signed_off_at"}


def test_coordinators_and_other_sites_may_not_sign_off(site_a, site_b, coordinator_a, client_for):
    from tests.factories import Role, UserFactory, member

    investigator_b = member(UserFactory(username="inv_b"), site_b, Role.INVESTIGATOR)
    _, procedure = treated_patient(site_a, VertebralLevel.L1)
    complication = ComplicationFactory(procedure=procedure)
    for user in (coordinator_a, investigator_b):
        with pytest.raises(PermissionDenied):
            services.complication_adjudicate(
                complication=complication,
                acting_user=user,
                complication_type="other",
                severity="mild",
                relation="unrelated",
            )
    response = client_for(investigator_b).post(f"/review/complications/{complication.pk}/", {})
    assert response.status_code == 404
    assert Complication.objects.get().signed_off_at is None


def test_review_list_shows_what_awaits_and_sign_off_from_the_page(site_a, investigator_a, coordinator_a, client_for):
    patient, procedure = treated_patient(site_a, VertebralLevel.L1)
    fracture = services.fracture_record(
        patient=patient,
        acting_user=coordinator_a,
        levels=[VertebralLevel.L2],
        diagnosed_on=DAY0 + dt.timedelta(days=30),
        confirmed_by="mri",
        symptomatic=True,
    )
    c = client_for(investigator_a)
    page = c.get("/review/").content.decode()
    assert f'id="fracture-{fracture.pk}"' in page and "L2 (Adjacent level)" in page

    response = c.post(
        f"/review/fractures/{fracture.pk}/",
        {f"f{fracture.pk}-severity": "moderate", f"f{fracture.pk}-relation": "possibly"},
    )

    assert response.status_code == 302
    fracture.refresh_from_db()
    assert fracture.signed_off_by == investigator_a and fracture.relation_to_procedure == "possibly"
    assert fracture.history.order_by("-history_id").first().history_user == investigator_a
    assert selectors.adjudication_counts(site_ids=[site_a.pk])["fractures"] == (1, 1)
    assert f'id="fracture-{fracture.pk}"' not in c.get("/review/").content.decode()


def test_coordinator_has_no_review_page(client_for, coordinator_a):
    assert client_for(coordinator_a).get("/review/").status_code == 404
