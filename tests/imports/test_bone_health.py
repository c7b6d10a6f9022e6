"""Bone-health actions after a procedure come in with a legacy series, and the reports count them.

Dates are relative to today (T). The default protocol makes the DXA due at the 3-month invitation
(day 83) and osteoporosis therapy at the early one (day 14); referrals are due on the procedure day.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from registry.imports import sample
from registry.imports.columns import BONE_COLUMNS
from registry.imports.services import ImportRejected, import_file, import_followup_plan
from registry.patients.models import BoneHealthAction
from reports.loaders import CohortFilter, load_frames
from reports.metrics import bone_health
from tests.imports.test_history import GTIN, T, case, product  # noqa: F401 - the fixture

COLUMNS = [*sample.COLUMNS, *BONE_COLUMNS]


def bone_series() -> list[dict[str, str]]:
    # Patients on therapy at entry: the planner adds no therapy action of its own.
    on_therapy = {"osteoporosis_therapy": "bisphosphonate", "last_dxa_on": ""}
    done = case("B1", -500, -501)
    done.update(
        bone_dxa_on=T(-420),
        bone_dxa_t_score="-2,7",
        bone_osteoporosis_therapy_status="done",
        bone_osteoporosis_therapy_on=T(-480),
        bone_osteoporosis_therapy_drug="Denosumab",
    )
    declined = case("B2", -400, -401, bone_dxa_status="declined")
    due = case("B3", -100, -101, bone_dxa_status="due", bone_falls_referral_on=T(-90), **on_therapy)
    not_yet_due = case("B4", -20, -21, bone_dxa_status="due", **on_therapy)
    return [done, declined, due, not_yet_due]


def actions() -> dict[tuple[str, str], tuple]:
    return {
        (a.patient.mrn, a.kind): (a.status, a.due_on, a.done_on, a.t_score, a.therapy)
        for a in BoneHealthAction.objects.select_related("patient")
    }


@pytest.mark.django_db
def test_imported_bone_health_actions_are_audited_and_counted_by_the_report(site_a, coordinator_a, product):  # noqa: F811
    plan = import_file(site=site_a, acting_user=coordinator_a, name="b.csv", data=sample.to_csv(bone_series(), COLUMNS))
    assert plan.counts["bone_actions_new"] == 6
    # Open windows (B3, B4) are planned: the imported DXA stays as it is, nothing else is added
    assert import_followup_plan(batch_id=plan.batch.pk) == 0

    today = timezone.localdate()

    def day(n: int) -> dt.date:
        return today + dt.timedelta(days=n)

    assert actions() == {
        ("B1", "dxa"): ("done", day(-500 + 83), day(-420), Decimal("-2.7"), ""),
        ("B1", "osteoporosis_therapy"): ("done", day(-500 + 14), day(-480), None, "denosumab"),
        ("B2", "dxa"): ("declined", day(-400 + 83), None, None, ""),
        ("B3", "dxa"): ("due", day(-100 + 83), None, None, ""),
        ("B3", "falls_referral"): ("done", day(-100), day(-90), None, ""),
        ("B4", "dxa"): ("due", day(-20 + 83), None, None, ""),
    }
    created = BoneHealthAction.history.filter(history_type="+")
    assert created.count() == 6
    assert set(created.values_list("history_user", flat=True)) == {coordinator_a.pk}

    # The report: DXA due by today for B1 (done on time: day -420 <= due -417), B2 (declined) and
    # B3 (still due); B4's is due in 63 days. Therapy: B1 only, done 6 days after its due date.
    figures = bone_health(load_frames(CohortFilter(site_ids=(site_a.pk,)), as_of=today))
    shares = {
        kind: {name: (p.count, p.denominator) for name, p in figures[kind].items()}
        for kind in ("dxa", "osteoporosis_therapy")
    }
    assert shares == {
        "dxa": {"done": (1, 3), "done_by_due_date": (1, 3), "declined": (1, 3)},
        "osteoporosis_therapy": {"done": (1, 1), "done_by_due_date": (0, 1), "declined": (0, 1)},
    }

    # Re-importing the same file adds nothing; a file that says otherwise is reported, not applied
    again = import_file(
        site=site_a, acting_user=coordinator_a, name="b.csv", data=sample.to_csv(bone_series(), COLUMNS)
    )
    assert (again.counts["bone_actions_new"], again.counts["bone_actions_unchanged"]) == (0, 6)
    changed = bone_series()
    changed[1]["bone_dxa_status"] = "not_applicable"
    third = import_file(site=site_a, acting_user=coordinator_a, name="b.csv", data=sample.to_csv(changed, COLUMNS))
    assert third.counts["bone_actions_changed"] == 1
    assert [(n.row, n.message) for n in third.changes if n.record == "bone health"] == [
        (3, "status: registry has declined, file has not_applicable")
    ]
    assert BoneHealthAction.objects.get(patient__mrn="B2").status == "declined"
    assert BoneHealthAction.history.count() == 6


@pytest.mark.django_db
def test_bone_health_cells_that_contradict_each_other_are_refused_row_by_row(site_a, coordinator_a, product):  # noqa: F811
    rows = [
        case("E1", -500, -501, bone_dxa_status="declined", bone_dxa_on=T(-400)),
        case("E2", -500, -501, bone_dxa_status="done"),
        case("E3", -500, -501, bone_dxa_on=T(-501)),
        case("E4", -500, -501, bone_dxa_t_score="-9"),
        case("E5", -500, -501, bone_physiotherapy_referral_status="maybe"),
        case("E6", -500, -501, bone_dxa_t_score="-2.5"),
    ]
    with pytest.raises(ImportRejected) as rejected:
        import_file(site=site_a, acting_user=coordinator_a, name="b.csv", data=sample.to_csv(rows, COLUMNS))
    errors = {(e.row, e.column) for e in rejected.value.plan.errors}
    assert errors == {
        (2, "bone_dxa_on"),  # a date on a declined action
        (3, "bone_dxa_on"),  # done without its date
        (4, "bone_dxa_on"),  # before the procedure: that is the patient's last DXA
        (5, "bone_dxa_t_score"),  # below -7.0
        (6, "bone_physiotherapy_referral_status"),  # not a status
        (7, "bone_dxa_status"),  # a T-score with no status
    }
    assert not BoneHealthAction.objects.exists()
