from django.contrib import admin

from registry.core.admin import AuditedAdmin
from registry.patients.models import BoneHealthAction, ConsentEvent, Patient, Site


@admin.register(Site)
class SiteAdmin(AuditedAdmin):
    list_display = ["code", "name", "time_zone", "contact_email", "emergency_number", "active"]
    search_fields = ["code", "name"]


class ConsentEventInline(admin.TabularInline):
    model = ConsentEvent
    extra = 0
    can_delete = False
    readonly_fields = ["status", "effective_on", "form_version", "note", "recorded_by", "recorded_at"]

    def has_add_permission(self, request, obj=None):
        # Consent decisions are recorded on the patient page so that withdrawal stops contact.
        return False


@admin.register(Patient)
class PatientAdmin(AuditedAdmin):
    list_display = ["study_id", "site", "consent_status", "contact_opt_out", "deceased_on", "created_at"]
    list_filter = ["site", "consent_status", "contact_opt_out"]
    search_fields = ["study_id", "mrn"]
    readonly_fields = ["study_id", "site", "consent_status", "consent_date", "contact_opt_out_at"]
    inlines = [ConsentEventInline]

    def has_add_permission(self, request):
        # Patients are registered through "New case": that is where the study id is assigned.
        return False


@admin.register(BoneHealthAction)
class BoneHealthActionAdmin(AuditedAdmin):
    list_display = ["patient", "kind", "status", "due_on", "done_on"]
    list_filter = ["kind", "status"]
    search_fields = ["patient__study_id"]
    raw_id_fields = ["patient", "procedure", "acted_by"]
