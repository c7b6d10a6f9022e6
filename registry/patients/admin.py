from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from registry.patients.models import Site


@admin.register(Site)
class SiteAdmin(SimpleHistoryAdmin):
    list_display = ["code", "name", "time_zone", "contact_email", "active"]
    search_fields = ["code", "name"]
