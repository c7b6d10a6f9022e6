"""A legacy series brings its history: events as they happened, answers, response rates, outcomes.

Dates are relative to today (T). The default protocol's windows (DATA_DICTIONARY §4): baseline
−30..0, early 14..42, m3 76..120, m12 335..395 days after the procedure.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from registry.followup.models import CancelCause, FollowUpEvent, SurveyResponse
from registry.imports import sample
from registry.imports.services import import_file, import_followup_plan
from registry.patients.models import ConsentEvent
from registry.procedures.models import CementProduct
from reports.loaders import CohortFilter, load_frames
from reports.metrics import follow_up, outcomes

GTIN = "05012345678900"
LEVEL_COLUMNS = sample.COLUMNS[sample.COLUMNS.index("level") :]


@pytest.fixture
def product(db):
    return CementProduct.objects.create(manufacturer="Acme Spine", brand="VertaFix HV", gtin=GTIN)


def T(days: int = 0) -> str:
    return (timezone.localdate() + dt.timedelta(days=days)).isoformat()


def case(mrn: str, performed: int, consent: int | None, **patient) -> dict[str, str]:
    row = dict(sample.legacy_rows(1, product=GTIN, today=timezone.localdate())[0])
    row.update(mrn=mrn, date_of_birth="1940-05-01", performed_on=T(performed), level="L1", leaks="")
    row.update(leak_detected_by="", consent_status="consented" if consent is not None else "pending")
    row.update(consent_date=T(consent) if consent is not None else "", consent_form_version="v2")
    row.update(patient)
    return row


def answer(base: dict, time_point: str, day: int, source: str = "paper", **values) -> dict[str, str]:
    """An answers-only row: the patient and procedure columns repeated, no level."""
    row = {key: value for key, value in base.items() if key not in LEVEL_COLUMNS}
    return {**row, "time_point": time_point, "answered_on": T(day), "answer_source": source, **values}


ODI_THREES = {f"odi_{code}": "3" for code in ("pain_intensity", "personal_care", "lifting", "walking", "sitting")}
ODI_THREES.update({f"odi_{code}": "3" for code in ("standing", "sleeping", "sex_life", "social_life", "travelling")})
ODI_ONES = dict.fromkeys(ODI_THREES, "1")


def legacy_series() -> list[dict[str, str]]:
    complete = case("P1", -500, -501)
    death = case("P2", -400, -401, deceased_on=T(-200))
    withdrawn = case("P3", -100, -101, consent_status="withdrawn", withdrawn_on=T(-50))
    late_consent = case("P4", -300, -200)
    pending = case("P5", -500, None)
    recent = case("P6", -20, -21)
    return [
        complete,
        answer(complete, "baseline", -501, vas="8", **ODI_THREES),
        answer(complete, "early", -480, source="phone", vas="4,0", odi_total="30"),
        answer(complete, "m3", -410, source="clinic", vas="3"),
        death,
        answer(death, "baseline", -400, vas="7"),
        withdrawn,
        answer(withdrawn, "baseline", -100, vas="9"),
        late_consent,
        pending,
        recent,
        answer(recent, "baseline", -20, vas="6.5", odi_total="50"),
        # VAS and ODI of the same time point on two rows: merged into one response
        answer(recent, "early", -3, source="link", vas="2,5"),
        answer(recent, "early", -3, source="link", **ODI_ONES),
    ]


def events_of(mrn: str) -> dict[str, tuple[str, str]]:
    return {
        e.event_code: (e.status, e.cancel_cause)
        for e in FollowUpEvent.objects.filter(patient__mrn=mrn).order_by("window_opens_on")
    }


@pytest.mark.django_db
def test_a_legacy_series_brings_its_history_response_rates_and_outcomes(site_a, coordinator_a, product):
    columns = [*sample.COLUMNS, "withdrawn_on", "deceased_on", "time_point", "answered_on", "answer_source"]
    columns += ["vas", *ODI_THREES, "odi_total"]

    plan = import_file(
        site=site_a, acting_user=coordinator_a, name="h.csv", data=sample.to_csv(legacy_series(), columns)
    )
    assert plan.counts["answers_new"] == 7
    assert import_followup_plan(batch_id=plan.batch.pk) == 0

    # Events: completed with their answers, missed, censored by death and withdrawal, not applicable
    # before consent, and open windows planned as for any new case
    completed, missed, cancelled, scheduled = "completed", "missed", "cancelled", "scheduled"
    assert events_of("P1") == {
        "baseline": (completed, ""),
        "early": (completed, ""),
        "m3": (completed, ""),
        "m12": (missed, ""),
    }
    assert events_of("P2") == {
        "baseline": (completed, ""),
        "early": (missed, ""),
        "m3": (missed, ""),
        "m12": (cancelled, CancelCause.DECEASED),
    }
    assert events_of("P3") == {
        "baseline": (completed, ""),
        "early": (missed, ""),
        "m3": (cancelled, CancelCause.WITHDRAWN),
        "m12": (cancelled, CancelCause.WITHDRAWN),
    }
    assert events_of("P4") == {
        "baseline": (cancelled, CancelCause.NOT_IN_FOLLOWUP),
        "early": (cancelled, CancelCause.NOT_IN_FOLLOWUP),
        "m3": (missed, ""),
        "m12": (scheduled, ""),
    }
    assert events_of("P5") == {}
    assert events_of("P6") == {
        "baseline": (completed, ""),
        "early": (completed, ""),
        "m3": (scheduled, ""),
        "m12": (scheduled, ""),
    }
    # Every completed event holds its answer; no email was sent for any window
    assert not FollowUpEvent.objects.filter(status=completed, response__isnull=True).exists()
    assert mail.outbox == []
    early = SurveyResponse.objects.get(patient__mrn="P6", event_code="early")
    assert (str(early.vas), early.odi_answered, str(early.odi_percent), early.source) == ("2.5", 10, "20.0", "link")
    total_only = SurveyResponse.objects.get(patient__mrn="P1", event_code="early")
    assert (str(total_only.odi_percent), total_only.odi_answered, total_only.odi_answers) == ("30.0", 0, {})
    assert (total_only.odi_total_only, early.odi_total_only) == (True, False)
    assert total_only.history.get().history_user == coordinator_a
    withdrawal = ConsentEvent.objects.filter(patient__mrn="P3").order_by("effective_on")
    assert [(c.status, c.effective_on.isoformat()) for c in withdrawal] == [
        ("consented", T(-101)),
        ("withdrawn", T(-50)),
    ]

    # Response rates, by the reports' own rules (a withdrawal censors only windows still open or not
    # yet open when it came: P3's early window closed on day -58, before the withdrawal on day -50,
    # so it stays missed; not applicable is not counted)
    frames = load_frames(CohortFilter(site_ids=(site_a.pk,)), as_of=timezone.localdate())
    rates = follow_up(frames)
    figures = {code: (row["completed"], row["missed"], row["censored"], row["pending"]) for code, row in rates.items()}
    assert figures == {
        "baseline": (4, 0, 0, 0),
        "early": (2, 2, 0, 0),
        "m3": (1, 2, 1, 1),
        "m12": (0, 1, 2, 2),
    }
    assert (rates["early"]["response_rate"].count, rates["early"]["response_rate"].denominator) == (2, 4)

    # Outcome tables: VAS 8, 7, 9, 6.5 at baseline; 4 and 2.5 at 2–6 weeks (changes −4, −4);
    # ODI 60 and 50 at baseline; 30 (total only) and 20 at 2–6 weeks (changes −30, −30)
    table = outcomes(frames)
    vas, odi = table["vas"]["by_type"]["all"], table["odi"]["by_type"]["all"]
    assert (vas["baseline"].score.n, vas["baseline"].score.mean) == (4, pytest.approx(7.625))
    assert (vas["early"].score.mean, vas["early"].change.mean, vas["early"].change.n) == (3.25, -4.0, 2)
    assert (odi["baseline"].score.mean, odi["early"].score.mean, odi["early"].change.mean) == (55.0, 25.0, -30.0)

    # A re-import that adds one answer adds only that answer, and completes the missed event
    more = [*legacy_series(), answer(case("P1", -500, -501), "m12", -120, vas="2")]
    again = import_file(site=site_a, acting_user=coordinator_a, name="h.csv", data=sample.to_csv(more, columns))
    assert (again.counts["answers_new"], again.counts["answers_unchanged"]) == (1, 7)
    assert again.counts["levels_new"] == again.counts["patients_new"] == 0
    assert SurveyResponse.objects.count() == 8
    assert events_of("P1")["m12"] == (completed, "")
    assert FollowUpEvent.objects.get(patient__mrn="P1", event_code="m12").response.vas == 2

    # Every event has its "created" history row under the importer, and the one the re-import
    # completed its "changed" row
    created = FollowUpEvent.history.filter(history_type="+")
    assert sorted(created.values_list("id", flat=True)) == sorted(FollowUpEvent.objects.values_list("id", flat=True))
    assert set(created.values_list("history_user", flat=True)) == {coordinator_a.pk}
    changed = FollowUpEvent.history.filter(history_type="~").values_list("event_code", "status", "history_user")
    assert list(changed) == [("m12", completed, coordinator_a.pk)]
