"""Account pages: password reset by email, and two-factor authentication (enrol an authenticator
app, confirm a code after the password, recovery codes)."""

from __future__ import annotations

import base64

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from django_otp import login as otp_login
from django_otp import match_token

from registry.accounts import services
from registry.accounts.forms import OneTimeCodeForm


def _next_url(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return "/"


class PasswordResetView(auth_views.PasswordResetView):
    """Django's view; the emailed link is built on SITE_URL, never on the request's Host header."""

    def form_valid(self, form):
        self.extra_email_context = {"site_url": settings.SITE_URL}
        return super().form_valid(form)


@never_cache
@login_required
def two_factor_setup(request):
    user = request.user
    if services.authenticator_confirmed(user=user) and not user.is_verified():
        # Enrolling a new authenticator would bypass the one already confirmed.
        return redirect("two_factor_verify")
    form = OneTimeCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        confirmed = services.authenticator_confirm(user=user, code=form.cleaned_data["code"])
        if confirmed is not None:
            device, codes = confirmed
            otp_login(request, device)
            return render(request, "accounts/recovery_codes.html", {"codes": codes, "next": _next_url(request)})
        form.add_error("code", _("That code is not right. Check the time on your phone and try the current code."))
    device = services.authenticator_pending(user=user)
    secret = base64.b32encode(device.bin_key).decode()
    context = {
        "form": form,
        "qr_svg": segno.make(device.config_url, error="m").svg_inline(scale=4, border=2),
        "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        "enrolled": services.authenticator_confirmed(user=user) is not None,
        "recovery_left": services.recovery_codes_left(user=user),
        "next": _next_url(request),
    }
    return render(request, "accounts/two_factor_setup.html", context)


@never_cache
@login_required
def two_factor_verify(request):
    form = OneTimeCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        # A code of the authenticator app, or one of the recovery codes (used up by this).
        device = match_token(request.user, form.cleaned_data["code"])
        if device is not None:
            otp_login(request, device)
            left = services.recovery_codes_left(user=request.user)
            if left < 3:
                messages.warning(request, _("You have %(n)s recovery codes left: make new ones.") % {"n": left})
            return redirect(_next_url(request))
        form.add_error("code", _("That code is not right, or was used already."))
    return render(request, "accounts/two_factor_verify.html", {"form": form, "next": _next_url(request)})


@never_cache
@login_required
@require_POST
def recovery_codes_new(request):
    if not request.user.is_verified():
        return redirect("two_factor_verify")
    codes = services.recovery_codes_issue(user=request.user)
    return render(request, "accounts/recovery_codes.html", {"codes": codes, "next": "/"})
