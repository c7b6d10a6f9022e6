from django.contrib import admin

from registry.core.admin import AuditedAdmin
from registry.followup import queueing
from registry.followup.models import (
    FollowUpEvent,
    FollowUpProtocol,
    OutboundMessage,
    ProtocolEvent,
    SiteFollowUpProtocol,
    StaffMailPreference,
    SurveyResponse,
    WorklistItem,
)


class ProtocolEventInline(admin.TabularInline):
    model = ProtocolEvent
    extra = 0
    fields = [
        "order",
        "code",
        "label",
        "window_start_day",
        "invite_day",
        "window_end_day",
        "instruments",
        "reminder_offsets_days",
        "max_messages",
    ]


@admin.register(FollowUpProtocol)
class FollowUpProtocolAdmin(AuditedAdmin):
    list_display = ["name", "is_default"]
    inlines = [ProtocolEventInline]

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if change:
            # Unsent events of existing patients follow the edited protocol (a task, after commit).
            queueing.protocol_replan_on_commit(form.instance.pk)


@admin.register(SiteFollowUpProtocol)
class SiteFollowUpProtocolAdmin(AuditedAdmin):
    list_display = ["site", "protocol"]


@admin.register(FollowUpEvent)
class FollowUpEventAdmin(AuditedAdmin):
    list_display = ["patient", "event_code", "window_opens_on", "invite_on", "window_closes_on", "status", "site"]
    list_filter = ["status", "event_code", "site"]
    search_fields = ["patient__study_id"]
    raw_id_fields = ["procedure", "patient", "superseded_by"]
    readonly_fields = ["status_changed_at"]


@admin.register(OutboundMessage)
class OutboundMessageAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "site", "patient", "due_at", "status", "attempts", "sent_at"]
    list_filter = ["status", "kind", "site"]
    search_fields = ["patient__study_id", "dedupe_key"]
    raw_id_fields = ["patient", "invitation", "bone_health_action", "response"]
    readonly_fields = ["dedupe_key", "claimed_at", "sent_at", "dispatched_at", "attempts", "last_error"]


@admin.register(SurveyResponse)
class SurveyResponseAdmin(AuditedAdmin):
    list_display = ["patient", "event_code", "source", "collected_on", "vas", "odi_percent"]
    list_filter = ["event_code", "source"]
    search_fields = ["patient__study_id"]
    raw_id_fields = ["patient", "procedure", "event", "entered_by"]


@admin.register(WorklistItem)
class WorklistItemAdmin(AuditedAdmin):
    list_display = ["patient", "kind", "status", "due_on", "site"]
    list_filter = ["status", "kind", "site"]
    search_fields = ["patient__study_id"]
    raw_id_fields = ["patient", "event", "bone_health_action", "message", "response", "done_by"]


@admin.register(StaffMailPreference)
class StaffMailPreferenceAdmin(admin.ModelAdmin):
    list_display = ["user", "language", "red_flag_alert", "opt_out_notice", "daily_digest"]
    search_fields = ["user__username"]
