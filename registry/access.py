"""The one door to site data (STYLE.md item 2).

Every view, API endpoint, report and export asks these helpers which sites a user may see and
in what way. Objects of another site are answered with 404, never 403, so that their existence
does not leak. Reviewers have aggregate access only: identified pages give them 404 too.
"""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from registry.accounts.models import DATA_ENTRY_ROLES, IDENTIFIED_ROLES, Role, SiteMembership
from registry.patients.models import Site


def is_registry_admin(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.is_superuser)


def _site_ids(user, roles) -> list[int]:
    if not (user and user.is_authenticated and user.is_active):
        return []
    cache = user.__dict__.setdefault("_registry_site_ids", {})
    key = tuple(sorted(roles))
    if key not in cache:
        cache[key] = list(
            SiteMembership.objects.filter(user=user, role__in=roles, site__active=True).values_list(
                "site_id", flat=True
            )
        )
    return cache[key]


def identified_site_ids(user) -> list[int] | None:
    """Sites whose identified data the user may see; ``None`` means every site (administrator)."""
    if is_registry_admin(user):
        return None
    return _site_ids(user, IDENTIFIED_ROLES)


def data_entry_site_ids(user) -> list[int] | None:
    if is_registry_admin(user):
        return None
    return _site_ids(user, DATA_ENTRY_ROLES)


def coordinator_site_ids(user) -> list[int] | None:
    """Sites whose coordinators may import and export identified data; None: every site (admin)."""
    if is_registry_admin(user):
        return None
    return _site_ids(user, (Role.COORDINATOR,))


def adjudicator_site_ids(user) -> list[int] | None:
    """Sites whose complications and new fractures the user may adjudicate: investigators (admin: all)."""
    if is_registry_admin(user):
        return None
    return _site_ids(user, (Role.INVESTIGATOR,))


def aggregate_site_ids(user) -> list[int] | None:
    """Sites whose aggregates the user may see: any role, reviewers included."""
    if is_registry_admin(user):
        return None
    return _site_ids(user, tuple(Role.values))


def sites_for_user(user, *, identified: bool = True) -> QuerySet[Site]:
    ids = identified_site_ids(user) if identified else aggregate_site_ids(user)
    sites = Site.objects.filter(active=True)
    return sites if ids is None else sites.filter(id__in=ids)


def scope_to_sites(queryset: QuerySet, user, *, site_field: str = "site", identified: bool = True) -> QuerySet:
    """Filter any queryset to the rows of sites the user may see."""
    ids = identified_site_ids(user) if identified else aggregate_site_ids(user)
    if ids is None:
        return queryset
    return queryset.filter(**{f"{site_field}__in": ids})


def can_see_identified(user) -> bool:
    ids = identified_site_ids(user)
    return ids is None or bool(ids)


def can_enter_data(user, site_id: int) -> bool:
    ids = data_entry_site_ids(user)
    return ids is None or site_id in ids


def can_adjudicate(user, site_id: int) -> bool:
    ids = adjudicator_site_ids(user)
    return ids is None or site_id in ids


def require_data_entry(user, site_id: int) -> None:
    """For write services: the acting user must be a coordinator or investigator of the site."""
    if not can_enter_data(user, site_id):
        raise PermissionDenied("This user may not enter data for this site.")


def require_adjudicator(user, site_id: int) -> None:
    if not can_adjudicate(user, site_id):
        raise PermissionDenied("Only an investigator of this site may adjudicate.")


def get_scoped_or_404(queryset: QuerySet, user, *, site_field: str = "site", **lookup):
    """One object of a site the user may see identified data of, else 404."""
    try:
        return scope_to_sites(queryset, user, site_field=site_field).get(**lookup)
    except queryset.model.DoesNotExist:
        raise Http404 from None


def identified_access_required(view):
    """Login required, and a role that sees identified data; reviewers get 404."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not can_see_identified(request.user):
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper


def aggregate_access_required(view):
    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not is_registry_admin(request.user) and not aggregate_site_ids(request.user):
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper
