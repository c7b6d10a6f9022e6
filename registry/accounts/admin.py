from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from registry.access import is_registry_admin, must_use_two_factor
from registry.accounts.models import SiteMembership
from registry.core.admin import AuditedAdmin

# The admin is for registry administrators (superusers) only: a staff flag alone is not enough;
# with REQUIRE_2FA, only once they have confirmed their second factor (registry/accounts/middleware.py).
admin.site.has_permission = lambda request: (
    is_registry_admin(request.user) and (request.user.is_verified() or not must_use_two_factor(request.user))
)
admin.site.site_header = "Vertebral augmentation registry — administration"


class SiteMembershipInline(admin.TabularInline):
    model = SiteMembership
    extra = 1
    autocomplete_fields = ["site"]


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class RegistryUserAdmin(UserAdmin):
    inlines = [SiteMembershipInline]
    list_display = ["username", "first_name", "last_name", "email", "is_active", "is_superuser"]


@admin.register(SiteMembership)
class SiteMembershipAdmin(AuditedAdmin):
    list_display = ["user", "site", "role"]
    list_filter = ["site", "role"]
    search_fields = ["user__username", "site__code"]
