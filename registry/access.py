"""The one door to site data (STYLE.md item 2).

Every view, API endpoint, report and export asks these helpers which sites a user may see and
in what way. Objects of another site are answered with 404, never 403, so that their existence
does not leak. Reviewers have aggregate access only: identified pages give them 404 too.

Every write service checks its acting user here itself (``require_*``), whatever its caller
checked before: a refusal for another site's data is ``NotYourSite`` (a ``PermissionDenied`` to
the code that called the service, a 404 to HTTP); a refusal at a site the user can see is a plain
``PermissionDenied``. No other module filters memberships or roles (tests/security/test_one_door.py).
"""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404

from registry.accounts.models import DATA_ENTRY_ROLES, IDENTIFIED_ROLES, Role, SiteMembership
from registry.patients.models import Site


class NotYourSite(Http404, PermissionDenied):
    """Refused: the data belongs to a site the user cannot see. Django and DRF answer 404."""


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


def research_export_site_ids(user) -> list[int] | None:
    """Sites whose de-identified cohort the user may export: investigators of a site; None: every site."""
    if is_registry_admin(user):
        return None
    return _site_ids(user, (Role.INVESTIGATOR,))


def data_entry_sites(user) -> QuerySet[Site]:
    """Active sites where the user may enter clinical data (forms offer only these)."""
    ids = data_entry_site_ids(user)
    sites = Site.objects.filter(active=True)
    return sites if ids is None else sites.filter(id__in=ids)


def coordinator_sites(user) -> QuerySet[Site]:
    """Active sites whose identified data the user may import and export."""
    ids = coordinator_site_ids(user)
    sites = Site.objects.filter(active=True)
    return sites if ids is None else sites.filter(id__in=ids)


def reviewers_of(site_id: int) -> QuerySet:
    """Active users who review the site's aggregates (its quarterly report's readers)."""
    reviewer_ids = SiteMembership.objects.filter(site_id=site_id, role=Role.REVIEWER).values("user_id")
    return get_user_model().objects.filter(is_active=True, id__in=reviewer_ids)


def registry_admins() -> QuerySet:
    return get_user_model().objects.filter(is_active=True, is_superuser=True)


def investigators_and_admins_of(site_id: int) -> QuerySet:
    """Who hears of a site-monitoring signal: the site's investigators and the registry administrators."""
    investigator_ids = SiteMembership.objects.filter(site_id=site_id, role=Role.INVESTIGATOR).values("user_id")
    return get_user_model().objects.filter(Q(is_superuser=True) | Q(id__in=investigator_ids), is_active=True)


# --- Checks of write services: each raises unless the acting user may do it -----------------------


def _refuse(user, site_id: int | None, message: str):
    ids = identified_site_ids(user)
    if ids is None or site_id in ids:
        return PermissionDenied(message)
    return NotYourSite(message)


def require_data_entry(user, site_id: int) -> None:
    """The user may change clinical data of ``site_id`` (coordinators, investigators, administrators)."""
    if not can_enter_data(user, site_id):
        raise _refuse(user, site_id, "This user may not enter data for this site.")


def require_any_data_entry(user) -> None:
    """Shared records (the cement lot catalogue): the user enters data at some site."""
    ids = data_entry_site_ids(user)
    if ids is not None and not ids:
        raise PermissionDenied("This user may not enter data.")


def require_coordinator(user, site_id: int) -> None:
    """Only the site's coordinators (and administrators) import and export its identified data."""
    ids = coordinator_site_ids(user)
    if ids is not None and site_id not in ids:
        raise _refuse(user, site_id, "Only the site's coordinators import and export its identified data.")


def require_research_export(user, site_ids) -> None:
    """A de-identified export of ``site_ids`` (None: every site) is the user's to take."""
    allowed = research_export_site_ids(user)
    if allowed is None:
        return
    if site_ids is None or not site_ids:
        raise PermissionDenied("Only registry administrators export every site.")
    for site_id in site_ids:
        if site_id not in allowed:
            raise _refuse(user, site_id, "Only the site's investigators export its cohort.")


def require_registry_admin(user) -> None:
    if not is_registry_admin(user):
        raise PermissionDenied("Only registry administrators may do this.")


def site_members(*, site_ids: list[int] | None, roles=DATA_ENTRY_ROLES) -> QuerySet:
    """Active users holding one of ``roles`` at any of ``site_ids`` (None: every site).

    Who a worklist item may be assigned to (data-entry roles), and who receives a site's alerts.
    """
    from django.contrib.auth import get_user_model

    members = SiteMembership.objects.filter(role__in=roles, site__active=True)
    if site_ids is not None:
        members = members.filter(site_id__in=site_ids)
    return get_user_model().objects.filter(is_active=True, pk__in=members.values("user_id")).order_by("username")


def site_members_by_site(*, site_ids: list[int] | None, roles=DATA_ENTRY_ROLES) -> dict[int, list]:
    """``{site id: [users]}`` of ``site_members`` in one query (the worklist's assign menus)."""
    members = SiteMembership.objects.filter(role__in=roles, site__active=True, user__is_active=True)
    if site_ids is not None:
        members = members.filter(site_id__in=site_ids)
    by_site: dict[int, list] = {}
    for membership in members.select_related("user").order_by("user__username"):
        by_site.setdefault(membership.site_id, []).append(membership.user)
    return by_site


# Who receives each kind of staff email (followup.StaffMailKind) when they have not chosen:
# coordinators everything, investigators (treating clinicians) red-flag alerts only. Reviewers
# never: staff mail names study ids, which are identified data of the site.
STAFF_MAIL_DEFAULT_ROLES = {
    "red_flag_alert": (Role.COORDINATOR, Role.INVESTIGATOR),
    "opt_out_notice": (Role.COORDINATOR,),
    "daily_digest": (Role.COORDINATOR,),
}


def staff_mail_members(*, site_ids: list[int] | None, user=None) -> list[tuple[int, object, str]]:
    """``(site id, user, role)`` of active users with an email who may receive a site's staff mail."""
    members = SiteMembership.objects.filter(role__in=IDENTIFIED_ROLES, site__active=True, user__is_active=True).exclude(
        user__email=""
    )
    if site_ids is not None:
        members = members.filter(site_id__in=site_ids)
    if user is not None:
        members = members.filter(user=user)
    members = members.select_related("user__staff_mail").order_by("site_id", "user_id")
    return [(m.site_id, m.user, m.role) for m in members]


def can_adjudicate(user, site_id: int) -> bool:
    ids = adjudicator_site_ids(user)
    return ids is None or site_id in ids


def require_adjudicator(user, site_id: int) -> None:
    if not can_adjudicate(user, site_id):
        raise _refuse(user, site_id, "Only an investigator of this site may adjudicate.")


def get_scoped_or_404(queryset: QuerySet, user, *, site_field: str = "site", **lookup):
    """One object of a site the user may see identified data of, else 404."""
    try:
        return scope_to_sites(queryset, user, site_field=site_field).get(**lookup)
    except queryset.model.DoesNotExist:
        raise Http404 from None


def get_enterable_or_404(queryset: QuerySet, user, *, site_field: str = "site", **lookup):
    """One object of a site where the user may enter data, else 404 (as for another site's)."""
    obj = get_scoped_or_404(queryset, user, site_field=site_field, **lookup)
    if not can_enter_data(user, site_id_of(obj, site_field)):
        raise Http404
    return obj


def site_id_of(obj, site_field: str = "site") -> int | None:
    """The site of a record reached through ``site_field`` (``procedure__site`` -> procedure.site_id)."""
    *path, last = site_field.split("__")
    for name in path:
        obj = getattr(obj, name)
    return getattr(obj, f"{last}_id")


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


def must_use_two_factor(user) -> bool:
    """Accounts that see identified data (administrators included) confirm a second factor after
    their password when ``REQUIRE_2FA`` is on; reviewers, who see aggregates only, need not."""
    return settings.REQUIRE_2FA and can_see_identified(user)
