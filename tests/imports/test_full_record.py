"""The full case record in the template: leak size and pathway, complications, the symptomatic link."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from registry.imports import sample
from registry.imports.columns import HEADER
from registry.imports.services import ImportRejected, import_file
from registry.procedures.models import CementLeak, CementProduct, Complication

GTIN = "05012345678900"


@pytest.fixture
def product(db):
    return CementProduct.objects.create(manufacturer="Acme Spine", brand="VertaFix HV", gtin=GTIN)


def T(days: int) -> str:
    return (timezone.localdate() + dt.timedelta(days=days)).isoformat()


def rows() -> list[dict[str, str]]:
    base = dict(sample.legacy_rows(1, product=GTIN, today=timezone.localdate())[0])
    base.update(mrn="C1", performed_on=T(-60), consent_status="pending", consent_date="", consent_form_version="")
    base.update(procedure_type="PVP", balloon_inflated="", level="L1")
    leaking = dict(base, leaks="paravertebral;epidural", leak_detected_by="ct", leak_size="minor;moderate")
    leaking.update(leak_pathway="S;B", complication_type="neuro_radiculopathy", complication_onset_on=T(-59))
    leaking.update(complication_found_at="before_discharge", complication_severity="moderate")
    leaking.update(complication_management="medication", complication_outcome="resolved")
    leaking.update(complication_resolved_on=T(-30), complication_leak="epidural")
    plain = dict(base, level="L2", leaks="", leak_detected_by="")
    # A complication of the procedure, not of a level: its own row, without a level.
    procedure_only = {k: v for k, v in base.items() if k not in sample.COLUMNS[sample.COLUMNS.index("level") :]}
    procedure_only.update(complication_type="embolism_pulmonary", complication_onset_on=T(-58))
    procedure_only.update(complication_found_at="follow_up_visit", complication_severity="mild")
    return [leaking, plain, procedure_only]


@pytest.mark.django_db
def test_leaks_with_size_pathway_and_complications_import_once(site_a, coordinator_a, product):
    data = sample.to_csv(rows(), HEADER)

    plan = import_file(site=site_a, acting_user=coordinator_a, name="c.csv", data=data)

    assert plan.counts["complications_new"] == 2 and plan.counts["leaks_new"] == 2
    leaks = {leak.location: leak for leak in CementLeak.objects.select_related("treated_level")}
    assert (leaks["paravertebral"].size_grade, leaks["paravertebral"].pathway) == ("minor", "S")
    assert (leaks["epidural"].size_grade, leaks["epidural"].pathway) == ("moderate", "B")
    radicular = Complication.objects.get(complication_type="neuro_radiculopathy")
    assert radicular.treated_level.get_level_display() == "L1"
    assert (radicular.severity, radicular.management, radicular.outcome) == ("moderate", "medication", "resolved")
    assert radicular.resolved_on.isoformat() == T(-30)
    # The symptomatic leak is linked to its complication; the other stays asymptomatic
    assert leaks["epidural"].symptomatic and leaks["epidural"].complication == radicular
    assert not leaks["paravertebral"].symptomatic and leaks["paravertebral"].complication is None
    embolism = Complication.objects.get(complication_type="embolism_pulmonary")
    assert embolism.treated_level is None and embolism.history.get().history_user == coordinator_a

    again = import_file(site=site_a, acting_user=coordinator_a, name="c.csv", data=data)
    assert (again.counts["complications_new"], again.counts["complications_unchanged"]) == (0, 2)
    assert Complication.objects.count() == 2 and CementLeak.objects.count() == 2


@pytest.mark.django_db
def test_complication_errors_are_reported_by_row_and_column(site_a, coordinator_a, product):
    bad = rows()
    bad[0]["complication_leak"] = "disc_superior"
    bad[2]["complication_onset_on"] = T(-90)
    bad[1]["leak_size"] = "minor"

    with pytest.raises(ImportRejected) as rejected:
        import_file(site=site_a, acting_user=coordinator_a, name="c.csv", data=sample.to_csv(bad, HEADER))

    found = {(e.row, e.column) for e in rejected.value.plan.errors}
    assert found == {(2, "complication_leak"), (3, "leaks"), (4, "complication_onset_on")}
    assert not Complication.objects.exists()
