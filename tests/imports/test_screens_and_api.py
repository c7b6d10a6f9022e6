"""The import in the browser and through the API: preview, errors in words, commit, access."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from registry.imports import sample
from registry.imports.models import ExportLog, ImportBatch
from registry.procedures.models import CementProduct, TreatedLevel

GTIN = "05012345678900"


@pytest.fixture
def product(db):
    return CementProduct.objects.create(manufacturer="Acme Spine", brand="VertaFix HV", gtin=GTIN)


def rows(n=8):
    return sample.legacy_rows(n, product=GTIN, today=timezone.localdate())


@pytest.mark.django_db
def test_coordinator_previews_then_commits_in_the_browser(client_for, site_a, coordinator_a, product):
    client = client_for(coordinator_a)
    bad = rows()
    bad[2]["cement_volume_ml"] = "22"
    upload = SimpleUploadedFile("series.csv", sample.to_csv(bad), content_type="text/csv")

    page = client.post("/imports/", {"site": site_a.pk, "file": upload})

    html = page.content.decode()
    assert page.status_code == 200 and 'id="errors"' in html
    assert "<td>4</td>" in html and "cement_volume_ml" in html and "less than or equal to 15" in html
    assert "Commit the import" not in html
    assert TreatedLevel.objects.count() == 0

    good = SimpleUploadedFile("series.csv", sample.to_csv(rows()), content_type="text/csv")
    client.post("/imports/", {"site": site_a.pk, "file": good})
    batch = ImportBatch.objects.latest("id")
    response = client.post(f"/imports/{batch.pk}/commit/")
    assert response.status_code == 302
    assert TreatedLevel.objects.count() == 8
    batch.refresh_from_db()
    assert batch.status == "committed" and batch.uploaded_by == coordinator_a


@pytest.mark.django_db
def test_other_personas_do_not_see_the_import_pages(
    client_for, site_a, coordinator_a, coordinator_b, reviewer_a, product
):
    client_for(coordinator_a).post(
        "/imports/", {"site": site_a.pk, "file": SimpleUploadedFile("s.csv", sample.to_csv(rows()))}
    )
    batch = ImportBatch.objects.get()
    assert client_for(reviewer_a).get("/imports/").status_code == 404
    assert client_for(coordinator_b).get(f"/imports/{batch.pk}/").status_code == 404
    assert client_for(coordinator_b).post(f"/imports/{batch.pk}/commit/").status_code == 404
    # Coordinator B's own export form offers only site B.
    assert (
        client_for(coordinator_b).post("/imports/export/", {"site": site_a.pk, "file_format": "csv"}).status_code == 302
    )
    assert not ExportLog.objects.exists()


@pytest.mark.django_db
def test_templates_download_in_both_formats(client_for, coordinator_a):
    client = client_for(coordinator_a)
    csv_template = client.get("/imports/template.csv")
    assert csv_template.status_code == 200
    assert csv_template.content.decode("utf-8-sig").startswith("mrn,given_name,family_name,date_of_birth,sex")
    xlsx = client.get("/imports/template.xlsx")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"


@pytest.mark.django_db
def test_export_download_is_logged(client_for, site_a, coordinator_a, product):
    response = client_for(coordinator_a).post("/imports/export/", {"site": site_a.pk, "file_format": "xlsx"})
    assert response.status_code == 200 and response.content[:2] == b"PK"
    assert "no-store" in response["Cache-Control"]
    assert ExportLog.objects.get().exported_by == coordinator_a


@pytest.mark.django_db
def test_api_import_previews_then_commits(site_a, coordinator_a, product):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(user=coordinator_a)[1]}")
    data = sample.to_csv(rows())

    preview = client.post(
        "/api/imports/", {"site": "TOL", "file": SimpleUploadedFile("s.csv", data)}, format="multipart"
    )
    assert preview.status_code == 200 and preview.json()["ok"] and not preview.json()["committed"]
    assert TreatedLevel.objects.count() == 0

    bad = rows()
    bad[0]["level"] = "Q1"
    rejected = client.post(
        "/api/imports/",
        {"site": "TOL", "file": SimpleUploadedFile("s.csv", sample.to_csv(bad)), "commit": True},
        format="multipart",
    )
    assert rejected.status_code == 400
    assert [(e["row"], e["column"], e["value"]) for e in rejected.json()["errors"]] == [(2, "level", "Q1")]

    committed = client.post(
        "/api/imports/", {"site": "TOL", "file": SimpleUploadedFile("s.csv", data), "commit": True}, format="multipart"
    )
    assert committed.status_code == 201 and committed.json()["summary"]["levels_new"] == 8
    assert TreatedLevel.objects.count() == 8


@pytest.mark.django_db
def test_the_import_page_explains_the_natural_keys(client_for, coordinator_a):
    page = client_for(coordinator_a).get("/imports/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "Excel template" in html and "site and MRN match" in html and "<code>lot_number</code>" in html
