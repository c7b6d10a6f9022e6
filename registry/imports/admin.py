from django.contrib import admin

from registry.imports.models import ExportLog, ImportBatch


@admin.register(ImportBatch)
class ImportBatchAdmin(admin.ModelAdmin):
    """Read-only: imports are made by coordinators; the administrator reviews them."""

    list_display = ["created_at", "site", "uploaded_by", "status", "rows", "error_count", "committed_at"]
    list_filter = ["status", "site"]
    readonly_fields = [f.name for f in ImportBatch._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ExportLog)
class ExportLogAdmin(admin.ModelAdmin):
    """The audit of identified exports: who took which site's data, when. Nobody edits it."""

    list_display = ["exported_at", "site", "exported_by", "file_format", "rows", "patients"]
    list_filter = ["site", "file_format"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
