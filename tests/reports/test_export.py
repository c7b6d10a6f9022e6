"""Research export: de-identified under Safe Harbor, re-keyed per export, audited, investigators only."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from decimal import Decimal

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from reports.export import DICTIONARY
from reports.models import ExportLog
from tests.factories import Role, UserFactory, member
from tests.reports.cohort import build_cohort, cases

DATE = re.compile(r"\b(19|20)\d\d-\d\d-\d\d\b")


@pytest.fixture
def cohort(site_a, site_b):
    return build_cohort(site_a, site_b)


def download(client, **data):
    response = client.post(reverse("reports:research_export"), {"file_format": "xlsx", **data})
    assert response.status_code == 200, response.content[:500]
    return load_workbook(io.BytesIO(response.content))


def rows(sheet):
    values = list(sheet.iter_rows(values_only=True))
    return [dict(zip(values[0], row, strict=True)) for row in values[1:]]


def test_export_holds_no_identifier_and_no_exact_date(cohort, site_a, investigator_a, client_for):
    workbook = download(client_for(investigator_a))

    assert set(workbook.sheetnames) == {*DICTIONARY, "data_dictionary"}
    text = " ".join(str(cell) for sheet in workbook for row in sheet.iter_rows(values_only=True) for cell in row)
    for procedure in cohort.values():
        patient = procedure.patient
        for identifier in (patient.study_id, patient.mrn, patient.given_name, patient.family_name, patient.email):
            assert identifier not in text
    assert not DATE.search(text)
    assert "datetime" not in text


def test_export_reports_days_from_the_procedure_and_ages_over_89_as_90_plus(cohort, investigator_a, client_for):
    workbook = download(client_for(investigator_a))
    procedures = rows(workbook["procedures"])

    a = [c for c in cases("A") if c.consent in ("consented", "withdrawn")]
    assert len(procedures) == len(a) == 10
    assert sorted(p["age_at_procedure"] for p in procedures).count("90+") == 1  # A5, 95 at the procedure
    assert {p["site"] for p in procedures} == {"TOL"}
    deaths = [p["days_to_death"] for p in procedures if p["days_to_death"] is not None]
    assert deaths == [22]  # A6: 10 March to 1 April
    surveys = rows(workbook["surveys"])
    assert sorted({s["days_from_procedure"] for s in surveys}) == [-1, 20, 90]
    levels = rows(workbook["levels"])
    assert sorted(lv["cement_volume_ml"] for lv in levels)[:2] == [1.0, 1.5]


def test_keys_are_new_in_every_export(cohort, investigator_a, client_for):
    client = client_for(investigator_a)
    first = download(client)
    second = download(client)

    def fingerprints(workbook):
        # patient key -> what the key points at (age, type, indication, year)
        return {
            p["patient_key"]: (p["age_at_procedure"], p["procedure_type"], p["indication"])
            for p in rows(workbook["procedures"])
        }

    one, two = fingerprints(first), fingerprints(second)
    assert sorted(one.values()) == sorted(two.values())
    assert all(re.fullmatch(r"P\d{5}", key) for key in one)
    assert one != two  # the same keys name other patients (10! orderings: a tie is 1 in 3.6 million)


def test_each_export_is_logged_with_who_what_and_when(cohort, site_a, investigator_a, client_for):
    client = client_for(investigator_a)
    download(client, procedure_type="PVP")
    response = client.post(reverse("reports:research_export"), {"file_format": "csv"})

    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert set(archive.namelist()) == {f"{name}.csv" for name in DICTIONARY} | {"data_dictionary.csv"}
    dictionary = list(csv.reader(io.StringIO(archive.read("data_dictionary.csv").decode())))
    assert ["procedures", "age_at_procedure", "Completed years at the procedure; '90+' for 90 or older."] in dictionary
    logs = list(ExportLog.objects.order_by("created_at"))
    assert [(log.user, log.file_format, log.site_codes) for log in logs] == [
        (investigator_a, "xlsx", ["TOL"]),
        (investigator_a, "csv", ["TOL"]),
    ]
    assert logs[0].filters["procedure_type"] == "PVP"
    assert logs[0].row_counts["procedures"] == 7
    assert len(logs[1].sha256) == 64


def test_only_investigators_and_administrators_export(
    cohort, site_a, coordinator_a, reviewer_a, admin_user, client_for
):
    url = reverse("reports:research_export")

    assert client_for(reviewer_a).get(url).status_code == 404
    assert client_for(coordinator_a).get(url).status_code == 404
    assert client_for(admin_user).get(url).status_code == 200
    assert len(rows(download(client_for(admin_user))["procedures"])) == 12


def test_investigator_cannot_export_another_site(cohort, site_b, investigator_a, client_for):
    response = client_for(investigator_a).post(
        reverse("reports:research_export"), {"file_format": "xlsx", "site": site_b.id}
    )

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not ExportLog.objects.exists()


def test_declined_and_pending_consent_are_left_out(cohort, site_a, client_for):
    investigator = member(UserFactory(username="inv_declined"), site_a, Role.INVESTIGATOR)
    patient = cohort["A1"].patient
    patient.consent_status = "declined"
    patient.save(update_fields=["consent_status"])

    procedures = rows(download(client_for(investigator))["procedures"])

    assert len(procedures) == 9


ODI_SECTIONS = (
    "pain_intensity", "personal_care", "lifting", "walking", "sitting",
    "standing", "sleeping", "sex_life", "social_life", "travelling",
)  # fmt: skip


@pytest.fixture
def exact_cases(site_a, coordinator_a):
    """Two ODI surveys through the survey service — 41 points over 9 answered sections (sex life
    skipped) = 91.111... %, stored as 91.1; 8 points over 9 = 17.777... %, stored as 17.8 — and a
    level of 4.1 mL in a 40.0 cc body: 10.25 % fill, an exact half."""
    from registry.followup.services import survey_response_record
    from tests.factories import ProcedureFactory, TreatedLevelFactory

    answered = [code for code in ODI_SECTIONS if code != "sex_life"]
    for points in ([5, 5, 5, 5, 5, 4, 4, 4, 4], [1, 1, 1, 1, 1, 1, 1, 1, 0]):
        procedure = ProcedureFactory(patient__site=site_a, performed_on=dt.date(2026, 2, 2))
        survey_response_record(
            patient=procedure.patient,
            procedure=procedure,
            event_code="baseline",
            source="clinic",
            answers={"odi": dict(zip(answered, points, strict=True)) | {"sex_life": None}},
            acting_user=coordinator_a,
            collected_on=dt.date(2026, 2, 1),
        )
    TreatedLevelFactory(procedure=procedure, cement_volume_ml=Decimal("4.1"), vertebral_body_volume_cc=Decimal("40.0"))


def test_export_prints_the_exact_odi_from_the_answers_not_the_stored_percent(exact_cases, investigator_a, client_for):
    workbook = download(client_for(investigator_a))

    odi = sorted(survey["odi_percent"] for survey in rows(workbook["surveys"]))
    # 20 x 8 / 9 = 17.777... and 20 x 41 / 9 = 91.111..., rounded half up once (stored: 17.8, 91.1).
    assert odi == [17.78, 91.11]


def test_export_rounds_an_exact_half_up(exact_cases, investigator_a, client_for):
    # 4.1 / 40.0 x 100 = 10.25 exactly: half up gives 10.3 (binary rounding of the float gave 10.2).
    # An ODI never lands on a half at 1 or 2 decimals (20 x points / answered, answered <= 10).
    fill = [level["fill_percent"] for level in rows(download(client_for(investigator_a))["levels"])]
    assert fill == [10.3]

    response = client_for(investigator_a).post(reverse("reports:research_export"), {"file_format": "csv"})
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    levels = list(csv.DictReader(io.StringIO(archive.read("levels.csv").decode())))
    surveys = list(csv.DictReader(io.StringIO(archive.read("surveys.csv").decode())))
    assert [level["fill_percent"] for level in levels] == ["10.3"]
    assert sorted(survey["odi_percent"] for survey in surveys) == ["17.78", "91.11"]
