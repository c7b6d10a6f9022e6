import hashlib

import pytest

from registry.followup import dispatch, tokens
from registry.followup.models import SurveyInvitation
from tests.followup.conftest import at, record_procedure

pytestmark = pytest.mark.django_db


@pytest.fixture
def invitation(patient, clock):
    record_procedure(patient)
    clock.set(at(14))
    dispatch.followup_sweep(now=at(14), queue=lambda pk: None)
    return SurveyInvitation.objects.get()


def test_link_token_has_at_least_128_bits_and_only_its_hash_is_stored(invitation):
    token = tokens.invitation_token(invitation)
    assert len(token) >= 22  # base64url: 6 bits a character, 256-bit HMAC -> 43 characters
    assert invitation.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in {invitation.token_salt, invitation.token_hash}


def test_token_finds_its_invitation_and_nothing_else_does(invitation):
    token = tokens.invitation_token(invitation)
    assert tokens.invitation_by_token(token) == invitation
    assert tokens.invitation_by_token(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert tokens.invitation_by_token("") is None
    assert tokens.invitation_by_token(invitation.token_hash) is None


def test_database_alone_cannot_reproduce_the_token(invitation, settings):
    token = tokens.invitation_token(invitation)
    settings.SURVEY_TOKEN_KEY = "another key that an attacker with the database would have to guess"
    assert tokens.invitation_token(invitation) != token
    assert tokens.invitation_by_token(token) is None


def test_survey_link_names_no_patient(invitation, settings, patient):
    url = tokens.survey_url(invitation)
    assert url == f"{settings.SITE_URL}/s/{tokens.invitation_token(invitation)}/"
    assert tokens.stop_url(invitation) == url + "stop/"
    path = url.removeprefix(settings.SITE_URL)
    for secret in (patient.study_id, patient.given_name, patient.email):
        assert secret not in path
    # A random token may contain any digit; the row ids must not stand as a path segment.
    segments = path.strip("/").split("/")
    for row_id in (patient.pk, invitation.pk, invitation.event_id):
        assert str(row_id) not in segments
