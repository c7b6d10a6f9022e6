"""Who may use the API: the same rules as the screens (registry/access.py).

Anonymous clients get 401 (with ``WWW-Authenticate: Token``). Users without identified access to
any site — reviewers — get 404 on every identified endpoint, as on the screens: the API does not
confirm that identified data exists. Objects of another site are 404 through each view's
``get_queryset`` (``scope_to_sites``).
"""

from __future__ import annotations

from rest_framework.exceptions import NotFound
from rest_framework.permissions import BasePermission

from registry import access


class IdentifiedAccess(BasePermission):
    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if not access.can_see_identified(user):
            raise NotFound
        return True
