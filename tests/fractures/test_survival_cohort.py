"""The survival cohort: time zero, events and censoring (DATA_DICTIONARY.md §6), and the dashboard."""

import datetime as dt

import pytest
from django.db.models import Q

from registry.followup.models import SurveyResponse
from registry.fractures import selectors, services
from registry.patients.models import ConsentEvent
from registry.procedures.models import VertebralLevel as V
from tests.factories import CementLeakFactory, ProcedureFactory
from tests.fractures.conftest import DAY0, at, treated_patient

pytestmark = pytest.mark.django_db


def day(n: int) -> dt.date:
    return DAY0 + dt.timedelta(days=n)


def survey(patient, on_day: int):
    return SurveyResponse.objects.create(
        patient=patient, event_code="m3", source="phone", collected_on=day(on_day), submitted_at=at(on_day)
    )


@pytest.fixture
def cohort(site_a, coordinator_a, clock):
    clock.set(at(400))
    leaking, procedure = treated_patient(site_a, V.L1)
    CementLeakFactory(treated_level=procedure.levels.get(), location="disc_inferior")
    survey(leaking, 90)
    services.fracture_record(
        patient=leaking,
        acting_user=coordinator_a,
        levels=[V.L2],
        diagnosed_on=day(60),
        confirmed_by="mri",
        symptomatic=True,
    )
    followed, _ = treated_patient(site_a, V.T8, procedure_type="PKP")
    survey(followed, 90)
    survey(followed, 365)
    services.fracture_record(
        patient=followed,
        acting_user=coordinator_a,
        levels=[V.L4],
        diagnosed_on=day(200),
        confirmed_by="ct",
        symptomatic=False,
    )
    deceased, _ = treated_patient(site_a, V.L3)
    deceased.deceased_on = day(30)
    deceased.save()
    survey(deceased, 20)
    withdrawn, _ = treated_patient(site_a, V.L3)
    survey(withdrawn, 90)
    ConsentEvent.objects.create(patient=withdrawn, status="withdrawn", effective_on=day(45), recorded_by=coordinator_a)
    silent, _ = treated_patient(site_a, V.L3)
    # A second procedure: time zero stays the first one.
    ProcedureFactory(patient=silent, performed_on=day(10))
    return {"leaking": leaking, "followed": followed, "deceased": deceased, "withdrawn": withdrawn, "silent": silent}


def test_time_zero_events_and_censoring(cohort, site_a):
    subjects = selectors.survival_subjects(procedure_q=Q(), as_of=day(400), site_ids=[site_a.pk])

    rows = sorted(
        (s.procedure_type, s.disc_leak, s.observed_days, s.fracture_days, s.adjacent_fracture_days) for s in subjects
    )
    assert rows == sorted(
        [
            ("PVP", True, 90, 60, 60),  # adjacent fracture on day 60, last survey day 90
            ("PKP", False, 365, 200, None),  # remote fracture on day 200, followed to day 365
            ("PVP", False, 20, None, None),  # last contact day 20, died day 30
            ("PVP", False, 45, None, None),  # withdrew on day 45, before the day-90 survey
            ("PVP", False, 0, None, None),  # never contacted
        ]
    )


def test_a_report_date_before_the_event_censors_it(cohort, site_a):
    subjects = selectors.survival_subjects(procedure_q=Q(), as_of=day(150), site_ids=[site_a.pk])
    pkp = next(s for s in subjects if s.procedure_type == "PKP")
    assert (pkp.observed_days, pkp.fracture_days) == (90, None)


def test_dashboard_shows_the_curves_numbers_and_adjudication(cohort, client_for, admin_user, clock):
    clock.set(at(400))
    page = client_for(admin_user).get("/reports/").content.decode()

    assert "New-fracture-free survival" in page and 'id="table-km_new_fracture"' in page
    # 5 patients, 2 with a new fracture. Censored on days 0, 20 and 45, so 2 are at risk on day 60
    # when one fractures: S(90 days) = 1/2.
    assert '<th scope="row">All patients</th><td>5</td><td>2</td><td>50.0 %' in page.replace("\n", "")
    assert "Adjudicated by an investigator: 0 of 2 new fractures" in page


def test_one_read_of_the_cohort_for_a_build_gives_each_site_what_its_own_read_gives(
    cohort, site_a, site_b, coordinator_b
):
    from reports import fracture_outcomes

    other, _ = treated_patient(site_b, V.T12, procedure_type="PKP")
    survey(other, 100)
    services.fracture_record(
        patient=other,
        acting_user=coordinator_b,
        levels=[V.L1],
        diagnosed_on=day(150),
        confirmed_by="mri",
        symptomatic=True,
    )
    treated_patient(site_b, V.L2, performed_on=day(5))
    until = Q(performed_on__lte=day(400))

    by_site = fracture_outcomes.section_inputs_by_site(
        procedure_q=until, site_ids=[site_a.pk, site_b.pk], as_of=day(400)
    )

    for key, site_ids in ((None, None), (site_a.pk, [site_a.pk]), (site_b.pk, [site_b.pk])):
        alone = fracture_outcomes.section_inputs(procedure_q=until, site_ids=site_ids, as_of=day(400))
        assert sorted(by_site[key].subjects, key=repr) == sorted(alone.subjects, key=repr)
        assert by_site[key].adjudicated == alone.adjudicated
    assert len(by_site[site_a.pk].subjects) == 5 and len(by_site[site_b.pk].subjects) == 2
