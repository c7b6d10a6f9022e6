"""Importing a legacy series: every bad row reported, nothing written; then all, then nothing twice."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command
from django.utils import timezone

from registry.followup.models import FollowUpEvent
from registry.imports import sample
from registry.imports.export import export_site
from registry.imports.models import ExportLog
from registry.imports.services import ImportRejected, import_file, import_followup_plan
from registry.patients.models import ConsentEvent, Patient
from registry.procedures.models import (
    CementLeak,
    CementLot,
    CementProduct,
    Procedure,
    TreatedLevel,
    normalise_lot_number,
)

GTIN = "05012345678900"


@pytest.fixture
def product(db):
    return CementProduct.objects.create(manufacturer="Acme Spine", brand="VertaFix HV", gtin=GTIN)


def today() -> dt.date:
    return timezone.localdate()


def series(n: int = 1000) -> list[dict[str, str]]:
    return sample.legacy_rows(n, product=GTIN, today=today())


def _simple_rows(rows) -> list[int]:
    """Indexes of rows that are the only row of their patient (every tenth patient)."""
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["mrn"]] = counts.get(row["mrn"], 0) + 1
    return [i for i, row in enumerate(rows) if counts[row["mrn"]] == 1]


SPOILERS = [
    ("level", lambda r: r.update(level="L9")),
    ("cement_volume_ml", lambda r: r.update(cement_volume_ml="22")),
    ("performed_on", lambda r: r.update(performed_on=(today() + dt.timedelta(days=30)).isoformat())),
    ("sex", lambda r: r.update(sex="F?")),
    ("date_of_birth", lambda r: r.update(date_of_birth="31/02/1950")),
    ("cement_product", lambda r: r.update(cement_product="NoSuchCement")),
    ("lot_number", lambda r: r.update(lot_number="")),
    (
        "performed_on",
        lambda r: r.update(
            date_of_birth=(dt.date.fromisoformat(r["performed_on"]) - dt.timedelta(days=12 * 365)).isoformat()
        ),
    ),
    ("consent_date", lambda r: r.update(consent_status="consented", consent_date="")),
    ("balloon_inflated", lambda r: r.update(procedure_type="PVP", balloon_inflated="yes")),
    ("fracture_age", lambda r: r.update(fracture_age_days="10", fracture_age="chronic")),
    ("leaks", lambda r: r.update(leaks="disc_middle", leak_detected_by="ct")),
]


@pytest.mark.django_db
def test_a_dozen_bad_rows_are_each_reported_and_nothing_is_imported(site_a, coordinator_a, product):
    # Given a 1,000-level series with twelve rows spoilt in twelve different ways
    rows = series()
    bad_rows = {}
    for (column, spoil), index in zip(SPOILERS, _simple_rows(rows)[5:], strict=False):
        spoil(rows[index])
        bad_rows[index + 2] = column  # the header is row 1
    assert len(bad_rows) == 12

    # When the coordinator commits it
    with pytest.raises(ImportRejected) as rejected:
        import_file(site=site_a, acting_user=coordinator_a, name="series.csv", data=sample.to_csv(rows))

    # Then exactly those rows are reported, each with its column, value and rule in words
    plan = rejected.value.plan
    assert plan.error_rows == sorted(bad_rows)
    for row, column in bad_rows.items():
        errors = [e for e in plan.errors if e.row == row]
        assert column in {e.column for e in errors}, (row, errors)
        assert all(e.rule for e in errors)
    assert any(e.value == "L9" and "vertebral level" in e.rule for e in plan.errors)
    assert any(e.value == "22" and "15" in e.rule for e in plan.errors)
    # And nothing at all was written
    assert Patient.objects.count() == Procedure.objects.count() == TreatedLevel.objects.count() == 0


@pytest.mark.django_db
def test_the_corrected_series_imports_everything_once(site_a, coordinator_a, product):
    rows = series()
    data = sample.to_xlsx(rows)
    patients = len({r["mrn"] for r in rows})

    # When the corrected file is committed
    plan = import_file(site=site_a, acting_user=coordinator_a, name="series.xlsx", data=data)

    # Then every level is in the registry, audited as created by the coordinator
    assert plan.counts["levels_new"] == 1000 == TreatedLevel.objects.count()
    assert Patient.objects.filter(site=site_a).count() == patients
    assert TreatedLevel.history.filter(history_type="+", history_user=coordinator_a).count() == 1000
    assert Patient.history.filter(history_type="+", history_user=coordinator_a).count() == patients
    assert CementLeak.objects.count() == plan.counts["leaks_new"] > 0
    assert ConsentEvent.objects.count() == Patient.objects.exclude(consent_status="pending").count()
    study_ids = list(Patient.objects.values_list("study_id", flat=True))
    assert len(set(study_ids)) == patients and all(s.startswith("TOL-") for s in study_ids)

    # When the same file is imported again
    counts_before = (Patient.objects.count(), Procedure.objects.count(), TreatedLevel.objects.count())
    history_before = TreatedLevel.history.count() + Patient.history.count() + Procedure.history.count()
    again = import_file(site=site_a, acting_user=coordinator_a, name="series.xlsx", data=data)

    # Then nothing changes: every record is recognised by its natural key and skipped
    assert again.counts["levels_unchanged"] == 1000
    assert again.counts["levels_new"] == again.counts["patients_new"] == again.counts["procedures_new"] == 0
    assert not again.changes
    assert (Patient.objects.count(), Procedure.objects.count(), TreatedLevel.objects.count()) == counts_before
    assert TreatedLevel.history.count() + Patient.history.count() + Procedure.history.count() == history_before


@pytest.mark.django_db
def test_a_changed_row_is_reported_not_applied(site_a, coordinator_a, product):
    rows = series(20)
    import_file(site=site_a, acting_user=coordinator_a, name="a.csv", data=sample.to_csv(rows))
    rows[0]["cement_volume_ml"] = "4.9"
    rows[-1]["level"] = "S1"

    plan = import_file(site=site_a, acting_user=coordinator_a, name="a.csv", data=sample.to_csv(rows))

    assert [(n.row, n.record) for n in plan.changes] == [(2, "level")]
    assert "cement_volume_ml" in plan.changes[0].message
    assert plan.counts["levels_new"] == 1
    assert not TreatedLevel.objects.filter(cement_volume_ml="4.9").exists()


@pytest.mark.django_db
def test_open_windows_are_planned_for_consented_patients_and_past_ones_are_history(site_a, coordinator_a, product):
    base = series(30)
    recent = dict(base[0], mrn="RECENT", performed_on=(today() - dt.timedelta(days=20)).isoformat())
    recent.update(consent_status="consented", consent_date=(today() - dt.timedelta(days=21)).isoformat())
    pending = dict(recent, mrn="PENDING", consent_status="pending", consent_date="")
    old = dict(recent, mrn="OLD", performed_on=(today() - dt.timedelta(days=900)).isoformat())
    old.update(consent_date=(today() - dt.timedelta(days=901)).isoformat())

    plan = import_file(site=site_a, acting_user=coordinator_a, name="f.csv", data=sample.to_csv([recent, pending, old]))
    # Only the recent consented case waits for planning; the worker does it after the commit.
    assert len(plan.batch.followup_pending) == 1
    assert import_followup_plan(batch_id=plan.batch.pk) == 0
    plan.batch.refresh_from_db()
    assert plan.batch.followup_planned_at is not None and plan.batch.followup_pending == []

    def events(mrn):
        return dict(FollowUpEvent.objects.filter(patient__mrn=mrn).values_list("event_code", "status"))

    # The baseline window (day −30 to 0) had closed without an answer in the file: missed.
    assert events("RECENT") == {"baseline": "missed", "early": "scheduled", "m3": "scheduled", "m12": "scheduled"}
    assert events("OLD") == {"baseline": "missed", "early": "missed", "m3": "missed", "m12": "missed"}
    assert events("PENDING") == {}


@pytest.mark.django_db
def test_an_export_imports_back_as_unchanged_and_is_logged(site_a, coordinator_a, product):
    import_file(site=site_a, acting_user=coordinator_a, name="s.csv", data=sample.to_csv(series(60)))

    content, log = export_site(site=site_a, acting_user=coordinator_a, file_format="csv")
    plan = import_file(site=site_a, acting_user=coordinator_a, name="export.csv", data=content, commit=False)

    assert plan.ok and not plan.changes
    assert plan.counts["levels_unchanged"] == 60 and plan.counts["levels_new"] == 0
    assert ExportLog.objects.get() == log
    assert (log.exported_by, log.site, log.rows, log.file_format) == (coordinator_a, site_a, 60, "csv")


@pytest.mark.django_db
def test_the_command_previews_unless_told_to_commit(tmp_path, site_a, coordinator_a, product, capsys):
    path = tmp_path / "series.csv"
    path.write_bytes(sample.to_csv(series(10)))

    call_command("import_cases", str(path), site="TOL", user="coord_a")
    assert TreatedLevel.objects.count() == 0
    call_command("import_cases", str(path), site="TOL", user="coord_a", commit=True)
    assert TreatedLevel.objects.count() == 10

    path.write_text("mrn,level\nX,L9\n")
    with pytest.raises(CommandError, match="Nothing imported"):
        call_command("import_cases", str(path), site="TOL", user="coord_a", commit=True)
    assert "required and missing" in capsys.readouterr().out


@pytest.mark.django_db
def test_only_the_site_coordinators_may_import(site_a, site_b, coordinator_b, investigator_a, product):
    data = sample.to_csv(series(5))
    for user in (coordinator_b, investigator_a):
        with pytest.raises(PermissionDenied, match="coordinators"):
            import_file(site=site_a, acting_user=user, name="s.csv", data=data)
    assert Patient.objects.count() == 0


@pytest.mark.django_db
def test_an_import_uses_the_lots_already_entered_and_audits_the_new_ones(site_a, coordinator_a, product):
    # Given a lot of the series already entered on the screens, written another way, with its expiry
    rows = series(300)
    known_number = rows[0]["lot_number"]
    known = CementLot.objects.create(
        product=product,
        lot_number=known_number.lower().replace("-", " "),
        lot_number_normalised=normalise_lot_number(known_number),
        expires_on=dt.date(2001, 1, 1),
    )

    # When the series is committed
    import_file(site=site_a, acting_user=coordinator_a, name="series.csv", data=sample.to_csv(rows))

    # Then its levels use that lot as it was, and every other lot of the file is created once,
    # audited as created by the coordinator
    numbers = {normalise_lot_number(row["lot_number"]) for row in rows}
    assert CementLot.objects.count() == len(numbers)
    known.refresh_from_db()
    assert known.expires_on == dt.date(2001, 1, 1)
    assert TreatedLevel.objects.filter(cement_lot=known).count() == sum(
        normalise_lot_number(row["lot_number"]) == known.lot_number_normalised for row in rows
    )
    created = CementLot.history.filter(history_type="+", history_user=coordinator_a)
    assert set(created.values_list("id", flat=True)) == set(
        CementLot.objects.exclude(pk=known.pk).values_list("id", flat=True)
    )
    assert all(lot.lot_number == lot.lot_number.strip() for lot in CementLot.objects.exclude(pk=known.pk))
