"""Two-factor enforcement: after the password, an account that must use a second factor reaches
nothing but the enrolment or verification pages (and log-out) until it has confirmed one."""

from __future__ import annotations

from urllib.parse import urlencode

from django.shortcuts import redirect
from django.urls import reverse

from registry import access
from registry.accounts import services

# Pages an unverified user may still reach; everything else, the admin and the API included.
OPEN_URL_NAMES = ("logout", "two_factor_setup", "two_factor_verify", "set_language", "healthz")


class TwoFactorRequiredMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if (
            user.is_authenticated
            and not user.is_verified()
            and access.must_use_two_factor(user)
            and request.path_info not in {reverse(name) for name in OPEN_URL_NAMES}
        ):
            # An enrolled user confirms a code; a user without an authenticator enrols one first.
            target = "two_factor_verify" if services.authenticator_confirmed(user=user) else "two_factor_setup"
            return redirect(f"{reverse(target)}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)
