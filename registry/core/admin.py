"""Admin pieces every app shares: history that can be read but never reverted, and the access log."""

from django.contrib import admin
from django.http import HttpResponseNotAllowed
from simple_history.admin import SimpleHistoryAdmin

from registry.core.models import AccessLogEntry


class AuditedAdmin(SimpleHistoryAdmin):
    """The admin of an audited model: its history is shown, an old version can be looked at, and
    nothing is restored from it. A revert would rewrite a clinical record from the admin without
    the service's checks; a correction is made through the screens, where it is audited as one.
    """

    def revert_disabled(self, request, obj=None):
        return True

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "HEAD"])
        return super().history_form_view(request, object_id, version_id, extra_context)


@admin.register(AccessLogEntry)
class AccessLogEntryAdmin(admin.ModelAdmin):
    """Read-only: the log is written by the identified pages and exports, and kept append-only."""

    list_display = ["accessed_at", "user", "kind", "site", "record_type", "record_id", "rows"]
    list_filter = ["kind", "site", "record_type"]
    search_fields = ["user__username"]
    date_hierarchy = "accessed_at"
    list_select_related = ["user", "site"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
