"""Whatever a patient answers on the page, what is stored is exactly what scoring.py computes."""

from decimal import Decimal

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry.followup import scoring
from registry.followup.models import SurveyResponse
from tests.factories import PatientFactory
from tests.surveys.conftest import answer_all, open_link

pytestmark = pytest.mark.django_db

odi_answers = st.fixed_dictionaries(
    {code: st.integers(0, 5) for code in scoring.ODI_SECTIONS if code != "sex_life"},
    optional={"sex_life": st.integers(0, 5)},
)
red_flag_answers = st.fixed_dictionaries({code: st.booleans() for code in scoring.RED_FLAG_CODES})


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    vas=st.integers(0, 10),
    odi=odi_answers,
    flags=red_flag_answers,
    painkillers=st.sampled_from(["none", "non_opioid", "opioid", "not_sure"]),
)
def test_stored_scores_equal_scoring_of_the_answers(site_a, vas, odi, flags, painkillers):
    link = open_link(PatientFactory(site=site_a))
    other = {f"rf_{code}": "yes" if value else "no" for code, value in flags.items()}
    response = answer_all(
        Client(),
        link,
        vas=str(vas),
        odi={f"odi_{code}": str(value) for code, value in odi.items()},
        other={**other, "analgesic_use": painkillers},
    )
    assert response.status_code == 302
    stored = SurveyResponse.objects.get(event=link.event)
    expected = scoring.odi_score(odi)
    assert stored.odi_percent == expected.rounded_percent
    assert stored.odi_complete is expected.complete and stored.odi_answered == expected.answered
    assert stored.odi_answers == odi
    assert stored.vas == scoring.vas_validate(vas) == Decimal(vas)
    assert stored.red_flags == list(scoring.red_flags_raised(flags))
    assert stored.analgesic_use == painkillers
