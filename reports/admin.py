from django.contrib import admin

from reports.models import ExportLog, QuarterlyReport


@admin.register(QuarterlyReport)
class QuarterlyReportAdmin(admin.ModelAdmin):
    """Read-only: reports are immutable; rebuilding is on the quarterly reports page."""

    list_display = ("__str__", "site", "year", "quarter", "version", "built_at", "built_by", "notified_at")
    list_filter = ("year", "quarter", "site")
    fields = ("site", "year", "quarter", "version", "period_start", "period_end", "built_at", "built_by", "notified_at")

    def get_queryset(self, request):
        return super().get_queryset(request).defer("html", "pdf", "xlsx")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ExportLog)
class ExportLogAdmin(admin.ModelAdmin):
    list_display = ("created_at", "user", "file_format", "site_codes", "row_counts")
    list_filter = ("file_format",)
    readonly_fields = ("user", "created_at", "file_format", "site_codes", "filters", "row_counts", "sha256")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
