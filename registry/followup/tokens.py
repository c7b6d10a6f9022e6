"""Survey-link tokens: 256-bit, derived with a key the database does not hold; only a hash is stored.

token = base64url(HMAC-SHA256(SURVEY_TOKEN_KEY, f"{invitation.pk}:{token_salt}")). Reminders carry
the same link, so the token must be reproducible, but a copy of the database alone (salt and hash)
cannot reproduce it. The link names no patient and no study id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from django.conf import settings
from django.utils.crypto import salted_hmac

from registry.followup.models import SurveyInvitation


def _key() -> bytes:
    configured = getattr(settings, "SURVEY_TOKEN_KEY", "")
    if configured:
        return configured.encode()
    return salted_hmac("registry.followup.tokens", "survey-token-key", algorithm="sha256").digest()


def new_salt() -> str:
    return secrets.token_urlsafe(24)


def token_for(pk: int, salt: str) -> str:
    digest = hmac.new(_key(), f"{pk}:{salt}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_token(invitation: SurveyInvitation) -> str:
    return token_for(invitation.pk, invitation.token_salt)


def invitation_by_token(token: str) -> SurveyInvitation | None:
    """The invitation of a link, or None. Expired and spent ones too: the caller says why it is closed."""
    if not token or len(token) > 100:
        return None
    invitation = (
        SurveyInvitation.objects.select_related("event", "event__patient", "event__site")
        .filter(token_hash=token_hash(token))
        .first()
    )
    if invitation is None:
        return None
    # The hash matched; recomputing from the key also rejects a row forged by someone with DB access.
    if not hmac.compare_digest(invitation_token(invitation), token):
        return None
    return invitation


def survey_url(invitation: SurveyInvitation) -> str:
    return f"{settings.SITE_URL}/s/{invitation_token(invitation)}/"


def stop_url(invitation: SurveyInvitation) -> str:
    return f"{settings.SITE_URL}/s/{invitation_token(invitation)}/stop/"
