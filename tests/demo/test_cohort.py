import datetime as dt

import pytest
from django.db.models import Count, Q

from registry.demo.cohort import generate_cohort
from registry.patients.models import ConsentEvent, Patient
from registry.procedures.models import CementLeak, Complication, Procedure, TreatedLevel, VertebralLevel
from tests.factories import SiteFactory

TODAY = dt.date(2026, 6, 30)


@pytest.fixture
def three_sites(db):
    return [SiteFactory(code=code) for code in ("TOL", "BOS", "MAD")]


def _every_row_passes_model_validation(queryset, exclude=()):
    for obj in queryset:
        obj.full_clean(exclude=list(exclude), validate_constraints=False)


def test_cohort_rows_satisfy_every_model_rule(three_sites):
    counts = generate_cohort(sites=three_sites, n_patients=300, seed=7, today=TODAY, batch_size=120)

    assert counts["patients"] == Patient.objects.count() == 300
    assert counts["procedures"] == Procedure.objects.count()
    assert counts["treated_levels"] == TreatedLevel.objects.count()
    assert counts["leaks"] == CementLeak.objects.count()
    assert counts["complications"] == Complication.objects.count()
    assert counts["consent_events"] == ConsentEvent.objects.count()
    # Dates are checked against "today" by the validators; the cohort's today is in the past here.
    _every_row_passes_model_validation(
        Patient.objects.all(), exclude=["date_of_birth", "consent_date", "deceased_on", "last_dxa_on"]
    )
    for procedure in Procedure.objects.select_related("patient"):
        assert procedure.performed_on <= TODAY
        assert TODAY - procedure.performed_on <= dt.timedelta(days=548 + 300)
        procedure.full_clean(exclude=["performed_on"])
    _every_row_passes_model_validation(TreatedLevel.objects.all())
    for complication in Complication.objects.select_related("procedure"):
        assert complication.onset_on >= complication.procedure.performed_on
        complication.full_clean(exclude=["onset_on", "resolved_on"])
    assert not CementLeak.objects.filter(symptomatic=True, complication__isnull=True).exists()
    assert not TreatedLevel.objects.values("procedure", "level").annotate(n=Count("id")).filter(n__gt=1).exists()


def test_cohort_distributions_follow_the_data_dictionary(three_sites):
    generate_cohort(sites=three_sites, n_patients=2000, seed=11, today=TODAY)

    procedures = Procedure.objects.all()
    pvp_share = procedures.filter(procedure_type="PVP").count() / procedures.count()
    assert 0.78 < pvp_share < 0.88
    volumes = [float(v) for v in TreatedLevel.objects.values_list("cement_volume_ml", flat=True)]
    mean = sum(volumes) / len(volumes)
    assert 1.9 < mean < 2.3
    levels_per_session = TreatedLevel.objects.count() / procedures.count()
    assert 1.9 < levels_per_session < 2.4
    junction = TreatedLevel.objects.filter(level__in=[VertebralLevel.T12, VertebralLevel.L1]).count()
    commonest = TreatedLevel.objects.values("level").annotate(n=Count("id")).order_by("-n").first()
    assert commonest["level"] in (VertebralLevel.T12, VertebralLevel.L1, VertebralLevel.L2)
    assert junction / TreatedLevel.objects.count() > 0.2

    def leak_rate(kind):
        first_sessions = Procedure.objects.filter(procedure_type=kind)
        with_leak = first_sessions.filter(levels__leaks__isnull=False).values("patient").distinct().count()
        return with_leak / first_sessions.values("patient").distinct().count()

    assert 0.32 < leak_rate("PVP") < 0.44
    assert 0.07 < leak_rate("PKP") < 0.21
    symptomatic = Patient.objects.filter(complications__symptomatic=True).distinct().count() / 2000
    assert 0.007 < symptomatic < 0.025
    assert Patient.objects.filter(~Q(consent_status="consented")).exists()


def test_same_seed_gives_the_same_cohort(db):
    def snapshot(code):
        site = SiteFactory(code=code)
        generate_cohort(sites=[site], n_patients=60, seed=3, today=TODAY)
        return [
            (
                p.study_id.split("-")[1],
                p.date_of_birth,
                p.family_name,
                [
                    (x.performed_on, x.procedure_type, sorted(x.levels.values_list("level", "cement_volume_ml")))
                    for x in p.procedures.order_by("performed_on")
                ],
            )
            for p in Patient.objects.filter(site=site).order_by("study_id")
        ]

    assert snapshot("AAA") == snapshot("BBB")
