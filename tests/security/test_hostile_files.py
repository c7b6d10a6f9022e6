"""Hostile files at the import (issue #12.1): each fails only its own import, with a short message.

The files are built here as the attack built them: a 1.6 KB workbook declaring cells A1 and
XFD1048576 (calamine would allocate 512 GB and abort the process), A1 and ZZ100000, a deflate
bomb, a CSV 200,000 columns wide, and an upload over the size limit through the API.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from knox.models import AuthToken
from openpyxl import Workbook
from rest_framework.test import APIClient

from registry.imports import reading, sample
from registry.imports.models import ImportBatch, ImportStatus
from registry.imports.services import import_files_purge, import_preview
from registry.patients.models import Patient
from registry.procedures.models import CementProduct

GTIN = "05012345678900"


@pytest.fixture
def product(db):
    return CementProduct.objects.create(manufacturer="Acme Spine", brand="VertaFix HV", gtin=GTIN)


@pytest.fixture
def api(coordinator_a):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(user=coordinator_a)[1]}")
    return client


def sparse_workbook(far_cell: str) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet["A1"] = "mrn"
    sheet[far_cell] = "x"
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def deflate_bomb(megabytes: int) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("xl/worksheets/sheet1.xml", "w") as xml:
            blank = b" " * (1 << 20)
            for _ in range(megabytes):
                xml.write(blank)
    return out.getvalue()


def upload(client, site, name: str, data: bytes):
    return client.post("/imports/", {"site": site.pk, "file": SimpleUploadedFile(name, data)})


def api_upload(api, name: str, data: bytes, **extra):
    return api.post(
        "/api/imports/", {"site": "TOL", "file": SimpleUploadedFile(name, data), **extra}, format="multipart"
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("far_cell", "message"),
    [("XFD1048576", "16,384 columns"), ("ZZ100000", "702 columns")],
)
def test_a_sparse_workbook_is_refused_before_it_is_parsed(client_for, site_a, coordinator_a, api, far_cell, message):
    data = sparse_workbook(far_cell)
    assert len(data) < 6000

    page = upload(client_for(coordinator_a), site_a, "series.xlsx", data)
    answer = api_upload(api, "series.xlsx", data)

    assert page.status_code == 200 and message in page.content.decode()
    assert answer.status_code == 400 and message in answer.json()["file"][0]
    assert len(answer.content) < 300
    # Nothing kept: no batch, no file.
    assert not ImportBatch.objects.exists()


def requoted(data: bytes) -> bytes:
    """The same workbook with single-quoted cell references and no <dimension> (both legal XML)."""
    source, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for member in source.infolist():
            content = source.read(member)
            if member.filename.startswith("xl/worksheets/"):
                content = re.sub(rb'r="([A-Z]+[0-9]+)"', rb"r='\1'", content)
                content = re.sub(rb"<dimension[^>]*/>", b"", content)
            target.writestr(member, content)
    return out.getvalue()


@pytest.mark.django_db
def test_single_quoted_cell_references_are_checked_too(api):
    answer = api_upload(api, "series.xlsx", requoted(sparse_workbook("XFD1048576")))

    assert answer.status_code == 400 and "16,384 columns" in answer.json()["file"][0]


@pytest.mark.django_db
def test_a_deflate_bomb_is_refused_by_its_unpacked_size(api):
    data = deflate_bomb(reading.MAX_UNCOMPRESSED_BYTES // (1 << 20) + 1)
    assert len(data) < 3 * 1024 * 1024

    answer = api_upload(api, "series.xlsx", data)

    assert answer.status_code == 400
    assert answer.json() == {
        "file": ["The workbook unpacks to more than 400 MB: it is not a case series this import can take."]
    }


@pytest.mark.django_db
def test_a_workbook_that_exhausts_the_parser_fails_only_its_own_import(settings, site_a, coordinator_a, product):
    # Given a sparse workbook within the limits (300 columns × 5,000 rows) and a parser allowed
    # less memory than calamine's rectangle of 1.5 million cells needs
    settings.IMPORT_PARSE_MEMORY_MB = 40
    data = sparse_workbook("KN5000")

    # When it is read, the child dies, and this process reports it in words
    with pytest.raises(reading.UnreadableFile, match="more memory than an import may use"):
        import_preview(site=site_a, acting_user=coordinator_a, name="s.xlsx", data=data)

    # Then a good workbook reads under the same limit
    good = sample.to_xlsx(sample.legacy_rows(5, product=GTIN, today=timezone.localdate()))
    batch, plan = import_preview(site=site_a, acting_user=coordinator_a, name="s.xlsx", data=good)
    assert plan.ok and plan.rows == 5


@pytest.mark.django_db
def test_a_csv_200000_columns_wide_gets_a_short_error(client_for, site_a, coordinator_a, api):
    data = (",".join(f"c{i}" for i in range(200_000)) + "\n").encode()

    answer = api_upload(api, "wide.csv", data)
    page = upload(client_for(coordinator_a), site_a, "wide.csv", data)

    assert answer.status_code == 400
    assert answer.json() == {"file": ["The file has 200,000 columns; an import takes at most 300."]}
    assert page.status_code == 200 and "200,000 columns" in page.content.decode()
    assert len(page.content) < 50_000


@pytest.mark.django_db
def test_a_cell_longer_than_the_limit_is_refused_with_its_place(api):
    data = b"mrn,given_name\nA1," + b"x" * (reading.MAX_CELL_CHARS + 1) + b"\n"

    answer = api_upload(api, "long.csv", data)

    assert answer.status_code == 400
    assert answer.json()["file"][0].startswith("Row 2, column 2: a cell holds more than 2,000 characters")


@pytest.mark.django_db
def test_an_oversized_api_upload_is_refused_by_its_size(api):
    data = b"mrn\n" + b"A" * reading.MAX_FILE_BYTES

    answer = api_upload(api, "big.csv", data, commit=True)

    assert answer.status_code == 400
    assert answer.json() == {"file": ["The file is larger than 50 MB: split it by year."]}
    assert not ImportBatch.objects.exists() and not Patient.objects.exists()


@pytest.mark.django_db
def test_only_parsed_rows_of_a_good_preview_are_kept_and_deleted_at_commit(
    client_for, site_a, coordinator_a, product, django_capture_on_commit_callbacks
):
    client = client_for(coordinator_a)
    rows = sample.legacy_rows(4, product=GTIN, today=timezone.localdate())
    bad = [dict(rows[0], level="Q1")]

    # A rejected file keeps nothing
    upload(client, site_a, "bad.csv", sample.to_csv(bad))
    rejected = ImportBatch.objects.get()
    assert rejected.status == ImportStatus.REJECTED and not rejected.file

    # A good one keeps its parsed rows, not the upload, and the preview page reads them
    upload(client, site_a, "good.xlsx", sample.to_xlsx(rows))
    batch = ImportBatch.objects.latest("id")
    assert batch.file.name.endswith(".json.gz")
    stored = batch.file.path
    assert client.get(f"/imports/{batch.pk}/").status_code == 200

    # The commit deletes them
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"/imports/{batch.pk}/commit/").status_code == 302
    batch.refresh_from_db()
    assert batch.status == ImportStatus.COMMITTED and not batch.file

    assert not os.path.exists(stored)


@pytest.mark.django_db
def test_previews_never_committed_are_purged_after_the_retention(settings, site_a, coordinator_a, product):
    settings.IMPORT_RETENTION_DAYS = 7
    data = sample.to_csv(sample.legacy_rows(2, product=GTIN, today=timezone.localdate()))
    old, _plan = import_preview(site=site_a, acting_user=coordinator_a, name="a.csv", data=data)
    recent, _plan = import_preview(site=site_a, acting_user=coordinator_a, name="b.csv", data=data)
    ImportBatch.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=7, minutes=1))

    assert import_files_purge() == 1

    old.refresh_from_db()
    recent.refresh_from_db()
    assert not old.file and recent.file
    assert import_files_purge() == 0
