from django.contrib import admin

from registry.core.admin import AuditedAdmin
from registry.fractures.models import FractureEvent, FractureLevel, Reintervention


class FractureLevelInline(admin.TabularInline):
    model = FractureLevel
    extra = 0
    # The class is computed from the treated levels (services.fracture_record), never typed.
    readonly_fields = ("level", "classification")
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(FractureEvent)
class FractureEventAdmin(AuditedAdmin):
    list_display = ("id", "site", "diagnosed_on", "confirmed_by", "symptomatic", "signed_off_at")
    list_filter = ("site", "confirmed_by", "symptomatic")
    # Study id only: the admin list is not a place for names.
    search_fields = ("patient__study_id",)
    raw_id_fields = ("patient", "index_procedure", "reported_in")
    readonly_fields = ("recorded_by", "signed_off_by", "signed_off_at", "severity", "relation_to_procedure")
    inlines = [FractureLevelInline]


@admin.register(Reintervention)
class ReinterventionAdmin(AuditedAdmin):
    list_display = ("id", "site", "kind", "performed_on")
    list_filter = ("site", "kind")
    search_fields = ("patient__study_id",)
    raw_id_fields = ("patient", "index_level", "procedure", "fracture")
    readonly_fields = ("recorded_by",)
