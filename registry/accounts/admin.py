from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from registry.access import is_registry_admin
from registry.accounts.models import SiteMembership
from registry.core.admin import AuditedAdmin

# The admin is for registry administrators (superusers) only: a staff flag alone is not enough.
admin.site.has_permission = lambda request: is_registry_admin(request.user)
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
