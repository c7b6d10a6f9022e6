"""Forms for the new-case flow and the edit pages: parse and convert; the services hold the rules."""

from __future__ import annotations

from django import forms
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from registry.patients.forms import form_class
from registry.procedures.barcodes import BarcodeError, parse_kit_barcode
from registry.procedures.models import (
    CementLeak,
    CementProduct,
    Complication,
    Procedure,
    TreatedLevel,
    VertebralLevel,
)
from registry.procedures.selectors import cement_product_for_scan, cement_products
from registry.procedures.services import PROCEDURE_EDITABLE_FIELDS

PROCEDURE_FIELDSETS = (
    (
        _("Session"),
        ("performed_on", "operator", "setting", "procedure_type", "indication", "fracture_age_days", "fracture_age", "mri_oedema"),
    ),
    (
        _("Technique"),
        ("anaesthesia", "guidance", "biopsy_taken", "histology_result", "combined_rfa", "radiotherapy", "open_fixation"),
    ),
    (_("Radiation"), ("fluoroscopy_seconds", "dose_area_product")),
    (
        _("Safety checklist"),
        (
            "risks_consented",
            "anticoagulation_reviewed",
            "allergy_screened",
            "baseline_neuro_documented",
            "antibiotic_prophylaxis",
            "post_neuro_check",
            "baseline_karnofsky",
        ),
    ),
    (_("Notes"), ("notes",)),
)  # fmt: skip
LEVEL_MAIN_FIELDS = ("level", "approach", "needle_gauge", "cement_volume_ml", "viscosity", "injection_phase")
LEVEL_DETAIL_FIELDS = (
    "vertebral_body_volume_cc",
    "height_loss_percent",
    "kyphotic_angle_deg",
    "posterior_wall_intact",
    "intravertebral_cleft",
    "balloon_inflated",
    "height_restored",
)
LEVEL_FIELDS = LEVEL_MAIN_FIELDS + LEVEL_DETAIL_FIELDS
LEAK_FIELDS = ("location", "pathway", "size_grade", "detected_by", "symptomatic")
COMPLICATION_FIELDS = (
    "complication_type",
    "severity",
    "onset_on",
    "found_at",
    "symptomatic",
    "management",
    "outcome",
    "resolved_on",
    "description",
)
MAX_COMPLICATION_ROWS = 20


def _level_choices(blank_label):
    return [("", blank_label), *VertebralLevel.choices]


class _ProcedureForm(forms.Form):
    def procedure_data(self) -> dict:
        return {name: self.cleaned_data[name] for name in PROCEDURE_EDITABLE_FIELDS}


ProcedureForm = form_class("ProcedureForm", Procedure, PROCEDURE_EDITABLE_FIELDS, base=_ProcedureForm)


class _LevelForm(forms.Form):
    """A treated level and its cement kit. The kit is chosen by hand or filled from a barcode scan."""

    scan = forms.CharField(
        label=_("Scan kit barcode"),
        required=False,
        max_length=200,
        help_text=_("GS1 or HIBC, e.g. (01)05012345678900(17)271231(10)AB12345"),
        widget=forms.TextInput(attrs={"class": "scan", "autocomplete": "off", "data-barcode": "1"}),
    )
    product = forms.ModelChoiceField(queryset=CementProduct.objects.none(), label=_("Cement product"), required=False)
    lot_number = forms.CharField(label=_("Lot number"), required=False, max_length=40)
    lot_expires_on = forms.DateField(
        label=_("Lot expiry"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )

    error_aliases = {"cement_lot": "lot_number"}
    # Set by the view after a scan: what it filled in, or why it could not.
    scan_note = ""
    scan_error = ""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["product"].queryset = cement_products()
        self.fields["level"].choices = _level_choices("—")

    def clean(self):
        cleaned = super().clean()
        if self.scan_error:
            self.add_error("scan", self.scan_error)
        return cleaned

    def level_data(self) -> dict:
        data = {name: self.cleaned_data[name] for name in LEVEL_FIELDS}
        data.update(
            product=self.cleaned_data["product"],
            lot_number=self.cleaned_data["lot_number"],
            lot_expires_on=self.cleaned_data["lot_expires_on"],
        )
        return data


LevelForm = form_class("LevelForm", TreatedLevel, LEVEL_FIELDS, base=_LevelForm)


def level_form_for(level: TreatedLevel) -> dict:
    """Initial values of the level form for an existing level."""
    initial = {name: getattr(level, name) for name in LEVEL_FIELDS}
    initial.update(
        product=level.cement_lot.product_id,
        lot_number=level.cement_lot.lot_number,
        lot_expires_on=level.cement_lot.expires_on,
    )
    return initial


class _CaseLeakForm(forms.Form):
    error_aliases = {"complication": "complication_number", "treated_level": "level"}
    level = forms.TypedChoiceField(label=_("Level"), coerce=int, choices=())
    complication_number = forms.TypedChoiceField(
        label=_("Caused complication"),
        coerce=int,
        empty_value=None,
        required=False,
        choices=[("", "—")] + [(n, _("Complication %(n)s") % {"n": n}) for n in range(1, MAX_COMPLICATION_ROWS + 1)],
        help_text=_("Required for a symptomatic leak."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["level"].choices = _level_choices("—")


CaseLeakForm = form_class("CaseLeakForm", CementLeak, LEAK_FIELDS, base=_CaseLeakForm)


class _CaseComplicationForm(forms.Form):
    level = forms.TypedChoiceField(label=_("Level concerned"), coerce=int, empty_value=None, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["level"].choices = _level_choices(_("Not level-specific"))
        # An untouched extra row must stay "unchanged" (an unticked box is not sent at all).
        self.fields["symptomatic"].initial = False

    def complication_data(self) -> dict:
        return {name: self.cleaned_data[name] for name in COMPLICATION_FIELDS}


CaseComplicationForm = form_class("CaseComplicationForm", Complication, COMPLICATION_FIELDS, base=_CaseComplicationForm)

LevelFormSet = forms.formset_factory(LevelForm, extra=2, can_delete=True, max_num=25, absolute_max=25)
CaseLeakFormSet = forms.formset_factory(CaseLeakForm, extra=2, can_delete=True, max_num=50, absolute_max=50)
CaseComplicationFormSet = forms.formset_factory(
    CaseComplicationForm, extra=1, can_delete=True, max_num=MAX_COMPLICATION_ROWS, absolute_max=MAX_COMPLICATION_ROWS
)


class CaseStartForm(forms.Form):
    patient_mode = forms.ChoiceField(
        label=_("Patient"),
        choices=[("existing", _("Existing patient")), ("new", _("New patient"))],
        widget=forms.RadioSelect,
        initial="new",
    )
    study_id = forms.CharField(
        label=_("Study id of the existing patient"), required=False, max_length=20, help_text=_("e.g. TOL-000123")
    )


class _LeakForm(forms.Form):
    complication = forms.ModelChoiceField(
        queryset=Complication.objects.none(), label=_("Caused complication"), required=False
    )

    def __init__(self, *args, procedure=None, **kwargs):
        super().__init__(*args, **kwargs)
        if procedure is not None:
            self.fields["complication"].queryset = procedure.complications.all()

    def leak_data(self) -> dict:
        return {name: self.cleaned_data[name] for name in (*LEAK_FIELDS, "complication")}


LeakForm = form_class("LeakForm", CementLeak, LEAK_FIELDS, base=_LeakForm)


class _ComplicationForm(forms.Form):
    treated_level = forms.ModelChoiceField(
        queryset=TreatedLevel.objects.none(), label=_("Level concerned"), required=False
    )

    def __init__(self, *args, procedure=None, **kwargs):
        super().__init__(*args, **kwargs)
        if procedure is not None:
            self.fields["treated_level"].queryset = procedure.levels.all()

    def complication_data(self) -> dict:
        return {name: self.cleaned_data[name] for name in (*COMPLICATION_FIELDS, "treated_level")}


ComplicationForm = form_class("ComplicationForm", Complication, COMPLICATION_FIELDS, base=_ComplicationForm)


class LotRecallForm(forms.Form):
    lot = forms.CharField(label=_("Lot number"), required=False, max_length=40)
    product = forms.ModelChoiceField(
        queryset=CementProduct.objects.all(), label=_("Product"), required=False, empty_label=_("Any product")
    )

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("lot") and not cleaned.get("product"):
            raise forms.ValidationError(_("Give a lot number, a product, or both."))
        return cleaned


# --- Barcode scans -------------------------------------------------------------------------------


def describe_scan(raw: str) -> dict:
    """What a scanned kit barcode means for the form: product, lot and expiry, or an error."""
    try:
        kit = parse_kit_barcode(raw)
    except BarcodeError as exc:
        return {"error": str(exc)}
    product = cement_product_for_scan(kit)
    result = {
        "lot_number": kit.lot_number,
        "expires_on": kit.expires_on.isoformat() if kit.expires_on else "",
        "gtin": kit.gtin,
        "product_id": product.pk if product else None,
        "product": str(product) if product else "",
        "viscosity": product.default_viscosity if product else "",
    }
    if product is None:
        code = kit.gtin or kit.hibc_labeler_product
        result["error"] = str(
            _(
                "Product %(code)s is not in the cement catalogue: choose the product by hand, or ask the "
                "registry administrator to add its GTIN/HIBC code."
            )
            % {"code": code}
        )
    return result


def apply_scans(data: QueryDict, prefix: str = "levels") -> dict[str, dict]:
    """Fill product, lot and expiry of each level row whose scan field holds a barcode.

    Works on the submitted data before the forms are bound, so the page comes back with the
    fields filled (no JavaScript needed). A readable scan is consumed; an unreadable one stays
    in its field with the reason.
    """
    results: dict[str, dict] = {}
    try:
        total = int(data.get(f"{prefix}-TOTAL_FORMS", 0))
    except ValueError:
        return results
    for i in range(min(total, 25)):
        row = f"{prefix}-{i}"
        raw = data.get(f"{row}-scan", "").strip()
        if not raw:
            continue
        scan = describe_scan(raw)
        if scan.get("lot_number"):
            data[f"{row}-lot_number"] = scan["lot_number"]
        if scan.get("expires_on"):
            data[f"{row}-lot_expires_on"] = scan["expires_on"]
        if scan.get("product_id"):
            data[f"{row}-product"] = str(scan["product_id"])
            if scan["viscosity"] and not data.get(f"{row}-viscosity"):
                data[f"{row}-viscosity"] = scan["viscosity"]
        if scan.get("error"):
            results[row] = {"error": scan["error"]}
        else:
            data[f"{row}-scan"] = ""
            results[row] = {
                "note": _("Scanned: %(p)s, lot %(l)s, expiry %(e)s.")
                % {"p": scan["product"], "l": scan["lot_number"] or "—", "e": scan["expires_on"] or "—"}
            }
    return results
