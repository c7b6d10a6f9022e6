from django import forms
from django.contrib import admin

from registry.core.admin import AuditedAdmin
from registry.procedures.models import (
    CementLeak,
    CementLot,
    CementProduct,
    Complication,
    Procedure,
    TreatedLevel,
    normalise_lot_number,
)


class CementLotInline(admin.TabularInline):
    model = CementLot
    extra = 0
    fields = ["lot_number", "expires_on"]


@admin.register(CementProduct)
class CementProductAdmin(AuditedAdmin):
    list_display = ["brand", "manufacturer", "material", "gtin", "hibc_labeler_product", "active"]
    list_filter = ["manufacturer", "material", "active"]
    search_fields = ["brand", "manufacturer", "gtin", "hibc_labeler_product"]


class CementLotAdminForm(forms.ModelForm):
    class Meta:
        model = CementLot
        fields = ["product", "lot_number", "expires_on"]

    def clean(self):
        cleaned = super().clean()
        normalised = normalise_lot_number(cleaned.get("lot_number", ""))
        if not normalised:
            self.add_error("lot_number", "Give the lot number printed on the kit.")
        elif (
            cleaned.get("product")
            and CementLot.objects.filter(product=cleaned["product"], lot_number_normalised=normalised)
            .exclude(pk=self.instance.pk)
            .exists()
        ):
            self.add_error("lot_number", "This product already has this lot (ignoring case, spaces and dashes).")
        return cleaned


@admin.register(CementLot)
class CementLotAdmin(AuditedAdmin):
    form = CementLotAdminForm
    list_display = ["lot_number", "product", "expires_on"]
    list_filter = ["product"]
    search_fields = ["lot_number", "lot_number_normalised"]

    def save_model(self, request, obj, form, change):
        obj.lot_number_normalised = normalise_lot_number(obj.lot_number)
        super().save_model(request, obj, form, change)


@admin.register(Procedure)
class ProcedureAdmin(AuditedAdmin):
    list_display = ["patient", "site", "performed_on", "procedure_type", "indication"]
    list_filter = ["site", "procedure_type", "indication"]
    search_fields = ["patient__study_id"]
    raw_id_fields = ["patient", "recorded_by"]
    readonly_fields = ["site"]
    date_hierarchy = "performed_on"


@admin.register(TreatedLevel)
class TreatedLevelAdmin(AuditedAdmin):
    list_display = ["procedure", "level", "cement_lot", "cement_volume_ml"]
    list_filter = ["level"]
    search_fields = ["procedure__patient__study_id", "cement_lot__lot_number"]
    raw_id_fields = ["procedure", "cement_lot"]


@admin.register(CementLeak)
class CementLeakAdmin(AuditedAdmin):
    list_display = ["treated_level", "location", "size_grade", "symptomatic"]
    list_filter = ["location", "symptomatic"]
    raw_id_fields = ["treated_level", "complication"]


@admin.register(Complication)
class ComplicationAdmin(AuditedAdmin):
    list_display = ["patient", "procedure", "complication_type", "severity", "symptomatic", "outcome"]
    list_filter = ["complication_type", "severity", "symptomatic", "outcome"]
    search_fields = ["patient__study_id"]
    raw_id_fields = ["patient", "procedure", "treated_level", "signed_off_by"]
