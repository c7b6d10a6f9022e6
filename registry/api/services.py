"""API tokens: issued for a limited time, shown once, revoked by deleting their row."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from knox.models import AuthToken

from registry import access


class TokenRefused(Exception):
    pass


@transaction.atomic
def api_token_issue(*, user, days: int | None = None, replace: bool = False) -> tuple[AuthToken, str]:
    """A new token for ``user`` (an integration's account) valid for ``days`` (default
    ``REST_KNOX['TOKEN_TTL']``); ``replace`` revokes the user's other tokens first. Returns the row
    and the secret, which nobody can read again."""
    if not access.can_see_identified(user):
        raise TokenRefused(
            f"{user.get_username()} has no coordinator or investigator role at any site: the API has nothing for them."
        )
    if days is not None and not 1 <= days <= 366:
        raise TokenRefused("A token is valid for 1 to 366 days.")
    if replace:
        api_tokens_revoke(user=user)
    if days is None:
        return AuthToken.objects.create(user=user)
    return AuthToken.objects.create(user=user, expiry=timedelta(days=days))


def api_tokens_revoke(*, user) -> int:
    """Revoke every API token of ``user``; returns how many there were."""
    deleted, _ = AuthToken.objects.filter(user=user).delete()
    return deleted
