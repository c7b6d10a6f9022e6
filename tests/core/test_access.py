import pytest
from django.http import Http404

from registry import access
from registry.patients.models import Patient
from tests.factories import PatientFactory


def test_coordinator_sees_only_their_sites_patients(coordinator_a, site_a, site_b):
    mine = PatientFactory(site=site_a)
    PatientFactory(site=site_b)

    visible = access.scope_to_sites(Patient.objects.all(), coordinator_a)

    assert list(visible) == [mine]


def test_other_sites_record_is_404_not_403(coordinator_a, site_b):
    theirs = PatientFactory(site=site_b)
    with pytest.raises(Http404):
        access.get_scoped_or_404(Patient.objects.all(), coordinator_a, pk=theirs.pk)


def test_reviewer_has_aggregates_but_no_identified_access(reviewer_a, site_a):
    PatientFactory(site=site_a)
    assert access.can_see_identified(reviewer_a) is False
    assert access.scope_to_sites(Patient.objects.all(), reviewer_a).count() == 0
    assert list(access.sites_for_user(reviewer_a, identified=False)) == [site_a]


def test_administrator_sees_every_site(admin_user, site_a, site_b):
    PatientFactory(site=site_a)
    PatientFactory(site=site_b)
    assert access.scope_to_sites(Patient.objects.all(), admin_user).count() == 2


def test_inactive_site_is_out_of_scope(coordinator_a, site_a):
    site_a.active = False
    site_a.save()
    coordinator_a.__dict__.pop("_registry_site_ids", None)
    assert access.can_see_identified(coordinator_a) is False


def test_coordinator_cannot_open_the_admin(client_for, coordinator_a):
    response = client_for(coordinator_a).get("/admin/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_import_link_shows_only_to_those_who_may_import(client_for, coordinator_a, investigator_a, admin_user):
    from django.urls import reverse

    link = reverse("imports:home")
    assert link in client_for(coordinator_a).get("/").content.decode()
    assert link in client_for(admin_user).get("/").content.decode()
    page = client_for(investigator_a).get("/").content.decode()
    assert link not in page
    assert client_for(investigator_a).get(link).status_code == 404
