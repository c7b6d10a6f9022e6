"""The Django admin is for registry administrators: catalogue, lots, sites, users and roles."""

from registry.procedures.models import CementLot
from tests.factories import CementProductFactory, UserFactory


def test_only_administrators_open_the_admin(client_for, admin_user, coordinator_a):
    staff_only = UserFactory(username="staff_only", is_staff=True)
    assert client_for(admin_user).get("/admin/").status_code == 200
    assert client_for(staff_only).get("/admin/").status_code == 302
    assert client_for(coordinator_a).get("/admin/").status_code == 302


def test_catalogue_pages_are_registered(client_for, admin_user):
    client = client_for(admin_user)
    for url in [
        "/admin/procedures/cementproduct/",
        "/admin/procedures/cementlot/",
        "/admin/procedures/procedure/",
        "/admin/procedures/treatedlevel/",
        "/admin/procedures/cementleak/",
        "/admin/procedures/complication/",
        "/admin/patients/patient/",
        "/admin/patients/site/",
        "/admin/accounts/sitemembership/",
        "/admin/auth/user/",
    ]:
        assert client.get(url).status_code == 200, url


def test_a_lot_added_in_the_admin_is_normalised_and_audited(client_for, admin_user):
    product = CementProductFactory(gtin="05012345678900")
    client = client_for(admin_user)
    response = client.post(
        "/admin/procedures/cementlot/add/", {"product": product.pk, "lot_number": "ab-77 1", "expires_on": "2028-01-31"}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    lot = CementLot.objects.get()
    assert lot.lot_number_normalised == "AB771"
    assert lot.history.get().history_user == admin_user

    duplicate = client.post(
        "/admin/procedures/cementlot/add/", {"product": product.pk, "lot_number": "AB 771", "expires_on": ""}
    )
    assert duplicate.status_code == 200 and "already has this lot" in duplicate.content.decode()


def test_patients_are_not_added_through_the_admin(client_for, admin_user):
    assert client_for(admin_user).get("/admin/patients/patient/add/").status_code == 403
