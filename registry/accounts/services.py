"""Writes of roles: who may do what at which site. Only registry administrators grant roles."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

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
