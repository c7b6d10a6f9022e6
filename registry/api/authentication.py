"""How API clients authenticate: expiring tokens kept only as hashes (django-rest-knox), and an
allowance of wrong tokens per client address, so that guessing tokens is throttled.

A token is shown once, when it is issued (``registry/api/services.py``); the database keeps its
SHA-512 digest and its first 15 characters (to find the row), never the secret itself.
"""

from __future__ import annotations

from axes.helpers import get_client_ip_address
from django.conf import settings
from django.core.cache import cache
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from knox.auth import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed, Throttled


def _failures_key(request) -> str:
    return f"api-token-failures:{get_client_ip_address(request) or 'unknown'}"


class ThrottledTokenAuthentication(TokenAuthentication):
    """Knox tokens; after API_TOKEN_FAILURE_LIMIT wrong tokens from one address within the window,
    every token request from that address is answered 429 until the window ends."""

    def authenticate(self, request):
        key = _failures_key(request)
        window = settings.API_TOKEN_FAILURE_WINDOW_SECONDS
        if cache.get(key, 0) >= settings.API_TOKEN_FAILURE_LIMIT:
            raise Throttled(wait=window, detail="Too many wrong API tokens from your address; try again later.")
        try:
            return super().authenticate(request)
        except AuthenticationFailed:
            # The window starts at the first failure; add() keeps it from being extended.
            cache.add(key, 0, timeout=window)
            try:
                cache.incr(key)
            except ValueError:
                cache.set(key, 1, timeout=window)
            raise


class ThrottledTokenScheme(KnoxTokenScheme):
    # The OpenAPI security scheme: "Authorization: Token <token>", as for knox itself.
    target_class = ThrottledTokenAuthentication
    name = "tokenAuth"
