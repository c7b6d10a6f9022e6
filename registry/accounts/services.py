"""Writes of accounts: roles (who may do what at which site; only registry administrators grant
them) and two-factor enrolment (an authenticator app and single-use recovery codes, django-otp)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from registry import access
from registry.accounts.models import Role, SiteMembership
from registry.core.audit import acting_as


def site_membership_set(*, acting_user, user, site, role: str) -> SiteMembership:
    """Give ``user`` the role ``role`` at ``site`` (one role per site: an earlier one is replaced)."""
    access.require_registry_admin(acting_user)
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}."})
    with transaction.atomic(), acting_as(acting_user):
        membership, _created = SiteMembership.objects.update_or_create(user=user, site=site, defaults={"role": role})
    return membership


RECOVERY_CODE_COUNT = 10
AUTHENTICATOR_NAME = "Authenticator app"
RECOVERY_NAME = "Recovery codes"


def authenticator_confirmed(*, user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


@transaction.atomic
def authenticator_pending(*, user) -> TOTPDevice:
    """The unconfirmed authenticator the user is enrolling: the same secret until confirmed, so a
    reload of the page does not invalidate the QR code already scanned."""
    device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).first()
    return device or TOTPDevice.objects.create(user=user, name=AUTHENTICATOR_NAME, confirmed=False)


@transaction.atomic
def authenticator_confirm(*, user, code: str) -> tuple[TOTPDevice, list[str]] | None:
    """Confirm the pending authenticator with a code it shows; returns it and fresh recovery codes,
    or None if the code is wrong. Only one authenticator per user: confirming replaces the old."""
    device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).first()
    if device is None or not device.verify_token(code):
        return None
    TOTPDevice.objects.filter(user=user, confirmed=True).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    return device, recovery_codes_issue(user=user)


@transaction.atomic
def recovery_codes_issue(*, user) -> list[str]:
    """Replace the user's recovery codes with RECOVERY_CODE_COUNT new ones; each works once."""
    device, _ = StaticDevice.objects.get_or_create(user=user, name=RECOVERY_NAME, defaults={"confirmed": True})
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def recovery_codes_left(*, user) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()
