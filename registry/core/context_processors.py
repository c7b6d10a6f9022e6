from registry import access


def navigation(request):
    """What the navigation bar may offer; each app adds its counts through ``nav_counts``."""
    user = getattr(request, "user", None)
    if not (user and user.is_authenticated):
        return {}
    from registry.core.navigation import nav_counts

    return {
        "nav_identified": access.can_see_identified(user),
        "nav_admin": access.is_registry_admin(user),
        "nav_import": access.coordinator_site_ids(user) != [],
        "nav_adjudicate": access.adjudicator_site_ids(user) != [],
        "nav_counts": nav_counts(user),
    }
