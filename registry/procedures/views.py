"""Case capture screens: the new-case flow, edit pages, lot recall and the barcode lookup."""

from __future__ import annotations

import csv

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.forms.formsets import DELETION_FIELD_NAME
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from registry import access
from registry.access import identified_access_required
from registry.core.audit import access_log_record
from registry.core.models import AccessKind
from registry.core.spreadsheet import csv_row
from registry.patients import selectors as patient_selectors
from registry.patients.forms import PATIENT_FIELDSETS, PatientRegistrationForm, apply_errors, fieldsets
from registry.patients.services import patient_register
from registry.procedures import selectors, services
from registry.procedures.forms import (
    COMPLICATION_FIELDS,
    LEAK_FIELDS,
    LEVEL_DETAIL_FIELDS,
    LEVEL_MAIN_FIELDS,
    PROCEDURE_FIELDSETS,
    CaseComplicationFormSet,
    CaseLeakFormSet,
    CaseStartForm,
    ComplicationForm,
    LeakForm,
    LevelForm,
    LevelFormSet,
    LotRecallForm,
    ProcedureForm,
    apply_scans,
    describe_scan,
    level_form_for,
)
from registry.procedures.services import PROCEDURE_EDITABLE_FIELDS, ConfirmationRequired, warnings_digest

ADD_ROW_ACTIONS = {"add_level": "levels", "add_leak": "leaks", "add_complication": "complications"}


def _confirmed(data, warnings) -> bool:
    return bool(data.get("confirm_warnings")) and data.get("warnings_digest") == warnings_digest(warnings)


def _used(formset):
    """Rows the coordinator filled and did not remove (untouched extra rows are ignored)."""
    return [f for f in formset.forms if f.has_changed() and not (formset.can_delete and _marked_for_removal(f))]


def _marked_for_removal(form) -> bool:
    # What Django's formset asks of each form, through the form's public cleaned data.
    return bool(getattr(form, "cleaned_data", {}).get(DELETION_FIELD_NAME, False))


# --- New case ----------------------------------------------------------------------------------


@identified_access_required
@require_http_methods(["GET", "POST"])
def new_case(request):
    sites = access.data_entry_sites(request.user)
    if not sites:
        return render(request, "procedures/no_entry_site.html", status=403)
    context = {"warnings": [], "show_errors": False}
    if request.method == "GET":
        initial = {}
        if request.GET.get("patient"):
            patient = patient_selectors.patient_get_for_user(user=request.user, patient_id=request.GET["patient"])
            initial = {"patient_mode": "existing", "study_id": patient.study_id}
        forms = _case_forms(None, sites, initial)
        return _render_case(request, forms, context)

    data = request.POST.copy()
    scans = apply_scans(data)
    action = data.get("action", "save")
    if action in ADD_ROW_ACTIONS:
        key = f"{ADD_ROW_ACTIONS[action]}-TOTAL_FORMS"
        data[key] = str(int(data.get(key, 0) or 0) + 1)
    forms = _case_forms(data, sites)
    for form in forms["levels"].forms:
        result = scans.get(form.prefix, {})
        form.scan_note, form.scan_error = result.get("note", ""), result.get("error", "")
    if action != "save":
        # "Fill from scan" (also what Enter in a field does) and "add a row" only redraw the page.
        return _render_case(request, forms, context)

    context["show_errors"] = True
    patient = _case_patient(request, forms)
    valid = all(
        [
            forms["start"].is_valid(),
            forms["patient"].is_valid() if forms["start"].cleaned_data.get("patient_mode") == "new" else True,
            forms["procedure"].is_valid(),
            forms["levels"].is_valid(),
            forms["leaks"].is_valid(),
            forms["complications"].is_valid(),
        ]
    )
    if not valid or patient is False:
        return _render_case(request, forms, context)
    case = _case_inputs(forms)
    if case is None:
        return _render_case(request, forms, context)
    levels, complications, keys = case
    if not levels:
        forms["levels"].forms[0].add_error(None, _("Enter at least one treated level."))
        return _render_case(request, forms, context)

    def save(confirm: bool):
        with transaction.atomic():
            case_patient = patient
            if case_patient is None:
                registration = forms["patient"]
                try:
                    case_patient = patient_register(
                        site=registration.cleaned_data["site"],
                        acting_user=request.user,
                        data=registration.patient_data(),
                    )
                except ValidationError as exc:
                    raise ValidationError({f"patient.{k}": v for k, v in exc.message_dict.items()}) from None
            return services.procedure_record(
                patient=case_patient,
                acting_user=request.user,
                data=forms["procedure"].procedure_data(),
                levels=levels,
                complications=complications,
                confirm=confirm,
            )

    try:
        try:
            procedure = save(confirm=False)
        except ConfirmationRequired as exc:
            # Nothing was written. Save only if the box was ticked for exactly these warnings.
            if not _confirmed(data, exc.warnings):
                context.update(warnings=exc.warnings, warnings_digest=exc.digest)
                return _render_case(request, forms, context)
            procedure = save(confirm=True)
    except ValidationError as exc:
        apply_errors(exc, keys, forms["procedure"])
        return _render_case(request, forms, context)
    patient = procedure.patient
    messages.success(
        request,
        _("Case saved: %(type)s on %(date)s for %(id)s.")
        % {"type": procedure.get_procedure_type_display(), "date": procedure.performed_on, "id": patient.study_id},
    )
    return redirect("patients:detail", pk=patient.pk)


def _case_forms(data, sites, initial=None):
    return {
        "start": CaseStartForm(data, initial=initial or {}),
        "patient": PatientRegistrationForm(data, prefix="patient", sites=sites),
        "procedure": ProcedureForm(data, prefix="procedure", initial={"performed_on": timezone.localdate()}),
        "levels": LevelFormSet(data, prefix="levels"),
        "leaks": CaseLeakFormSet(data, prefix="leaks"),
        "complications": CaseComplicationFormSet(data, prefix="complications"),
    }


def _case_patient(request, forms):
    """The existing patient chosen by study id (None for a new patient; False if not found)."""
    start = forms["start"]
    if not start.is_valid() or start.cleaned_data["patient_mode"] != "existing":
        return None
    study_id = start.cleaned_data["study_id"]
    patient = patient_selectors.patient_find_by_study_id_for_user(user=request.user, study_id=study_id)
    if patient is None:
        start.add_error("study_id", _("No patient with this study id at your sites."))
        return False
    if not access.can_enter_data(request.user, patient.site_id):
        start.add_error("study_id", _("You cannot enter data for this patient's site."))
        return False
    return patient


def _case_inputs(forms):
    """Service inputs from the valid forms, and which form shows the errors of each record."""
    keys = {"procedure": forms["procedure"], "patient": forms["patient"], "": forms["procedure"]}
    level_forms = _used(forms["levels"])
    complication_forms = _used(forms["complications"])
    complication_index = {forms["complications"].forms.index(f) + 1: k for k, f in enumerate(complication_forms)}
    levels = []
    position = {}
    for i, form in enumerate(level_forms):
        keys[f"levels.{i}"] = form
        levels.append({**form.level_data(), "leaks": []})
        position.setdefault(form.cleaned_data["level"], i)
    ok = True
    for form in _used(forms["leaks"]):
        ordinal = form.cleaned_data["level"]
        if ordinal not in position:
            form.add_error("level", _("This level is not among the treated levels above."))
            ok = False
            continue
        number = form.cleaned_data["complication_number"]
        if number is not None and number not in complication_index:
            form.add_error("complication_number", _("Complication %(n)s is not filled in below.") % {"n": number})
            ok = False
            continue
        i = position[ordinal]
        keys[f"levels.{i}.leaks.{len(levels[i]['leaks'])}"] = form
        leak = {name: form.cleaned_data[name] for name in LEAK_FIELDS}
        leak["complication_index"] = complication_index.get(number)
        levels[i]["leaks"].append(leak)
    complications = []
    for k, form in enumerate(complication_forms):
        keys[f"complications.{k}"] = form
        complications.append({**form.complication_data(), "level": form.cleaned_data["level"]})
    return (levels, complications, keys) if ok else None


def _render_case(request, forms, context):
    show_errors = context["show_errors"]
    has_errors = show_errors and any(
        [
            forms["start"].errors,
            forms["start"].cleaned_data.get("patient_mode") == "new" and forms["patient"].errors,
            forms["procedure"].errors,
            *(formset.total_error_count() for formset in (forms["levels"], forms["leaks"], forms["complications"])),
        ]
    )
    return render(
        request,
        "procedures/new_case.html",
        {
            **forms,
            **context,
            "hide_errors": not show_errors,
            # The new-patient fields are not checked when an existing patient was chosen.
            "hide_patient_errors": not show_errors or forms["start"].cleaned_data.get("patient_mode") != "new",
            "has_errors": has_errors,
            "patient_groups": fieldsets(forms["patient"], PATIENT_FIELDSETS),
            "procedure_fieldsets": fieldsets(forms["procedure"], PROCEDURE_FIELDSETS),
            "level_main_fields": LEVEL_MAIN_FIELDS,
            "level_detail_fields": LEVEL_DETAIL_FIELDS,
        },
    )


# --- Edit pages ----------------------------------------------------------------------------------


def _confirm_flag(request):
    """True when the user ticked "I confirm" for exactly the warnings the page showed."""
    return bool(request.POST.get("confirm_warnings")) and bool(request.POST.get("warnings_digest"))


def _call_with_confirmation(request, service, **kwargs):
    """Call a service; if it asks for confirmation, the ticked box must match these very warnings."""
    try:
        return service(**kwargs, confirm=False)
    except ConfirmationRequired as exc:
        if _confirm_flag(request) and request.POST.get("warnings_digest") == exc.digest:
            return service(**kwargs, confirm=True)
        raise


@identified_access_required
@require_http_methods(["GET", "POST"])
def procedure_edit(request, pk: int):
    procedure = selectors.procedure_get_for_user(user=request.user, procedure_id=pk)
    access_log_record(user=request.user, kind=AccessKind.PROCEDURE_PAGE, site_id=procedure.site_id, record=procedure)
    initial = {name: getattr(procedure, name) for name in PROCEDURE_EDITABLE_FIELDS}
    form = ProcedureForm(request.POST or None, prefix="procedure", initial=initial)
    return _procedure_form_page(request, form, procedure)


def _procedure_form_page(request, form, procedure):
    context = {
        "form": form,
        "title": _("Edit procedure of %(date)s") % {"date": procedure.performed_on},
        "patient": procedure.patient,
        "warnings": [],
        "procedure_fieldsets": fieldsets(form, PROCEDURE_FIELDSETS),
    }
    if request.method == "POST" and form.is_valid():
        try:
            _call_with_confirmation(
                request,
                services.procedure_update,
                procedure=procedure,
                acting_user=request.user,
                data=form.procedure_data(),
            )
        except ConfirmationRequired as exc:
            context.update(warnings=exc.warnings, warnings_digest=exc.digest)
        except ValidationError as exc:
            apply_errors(exc, {"procedure": form, "": form}, form)
        else:
            messages.success(request, _("Procedure updated."))
            return redirect("patients:detail", pk=procedure.patient_id)
    return render(request, "procedures/procedure_form.html", context)


def _level_page(request, *, form, title, patient, call):
    scan_only = request.POST.get("action") == "scan"
    context = {
        "show_errors": request.method == "POST" and not scan_only,
        "hide_errors": not (request.method == "POST" and not scan_only),
        "form": form,
        "title": title,
        "patient": patient,
        "warnings": [],
        "level_main_fields": LEVEL_MAIN_FIELDS,
        "level_detail_fields": LEVEL_DETAIL_FIELDS,
    }
    if request.method == "POST" and not scan_only and form.is_valid():
        try:
            call(form.level_data())
        except ConfirmationRequired as exc:
            context.update(warnings=exc.warnings, warnings_digest=exc.digest)
        except ValidationError as exc:
            apply_errors(exc, {"level": form, "": form}, form)
        else:
            messages.success(request, _("Treated level saved."))
            return redirect("patients:detail", pk=patient.pk)
    return render(request, "procedures/level_form.html", context)


def _bound_level_form(request, initial=None):
    """The one-level form; a scanned barcode fills product, lot and expiry before binding."""
    if request.method != "POST":
        return LevelForm(prefix="levels-0", initial=initial or {})
    data = request.POST.copy()
    data["levels-TOTAL_FORMS"] = "1"
    scan = apply_scans(data).get("levels-0", {})
    form = LevelForm(data, prefix="levels-0", initial=initial or {})
    form.scan_note, form.scan_error = scan.get("note", ""), scan.get("error", "")
    return form


@identified_access_required
@require_http_methods(["GET", "POST"])
def level_add(request, pk: int):
    procedure = selectors.procedure_get_for_user(user=request.user, procedure_id=pk)
    form = _bound_level_form(request)
    return _level_page(
        request,
        form=form,
        title=_("Add a treated level to the procedure of %(date)s") % {"date": procedure.performed_on},
        patient=procedure.patient,
        call=lambda data: _call_with_confirmation(
            request, services.treated_level_add, procedure=procedure, acting_user=request.user, data=data
        ),
    )


@identified_access_required
@require_http_methods(["GET", "POST"])
def level_edit(request, pk: int):
    level = selectors.treated_level_get_for_user(user=request.user, treated_level_id=pk)
    form = _bound_level_form(request, initial=level_form_for(level))
    return _level_page(
        request,
        form=form,
        title=_("Edit treated level %(level)s") % {"level": level.get_level_display()},
        patient=level.procedure.patient,
        call=lambda data: _call_with_confirmation(
            request, services.treated_level_update, treated_level=level, acting_user=request.user, data=data
        ),
    )


@identified_access_required
@require_http_methods(["GET", "POST"])
def level_delete(request, pk: int):
    level = selectors.treated_level_get_for_user(user=request.user, treated_level_id=pk)
    patient = level.procedure.patient
    if request.method == "POST":
        services.treated_level_remove(treated_level=level, acting_user=request.user)
        messages.success(request, _("Treated level %(level)s removed.") % {"level": level.get_level_display()})
        return redirect("patients:detail", pk=patient.pk)
    return render(
        request,
        "procedures/confirm_delete.html",
        {"patient": patient, "title": _("Remove treated level %(l)s?") % {"l": level.get_level_display()}},
    )


@identified_access_required
@require_http_methods(["GET", "POST"])
def leak_add(request, pk: int):
    level = selectors.treated_level_get_for_user(user=request.user, treated_level_id=pk)
    form = LeakForm(request.POST or None, procedure=level.procedure)
    return _simple_page(
        request,
        form=form,
        title=_("Add a cement leak at %(level)s") % {"level": level.get_level_display()},
        patient=level.procedure.patient,
        call=lambda f: services.leak_add(treated_level=level, acting_user=request.user, data=f.leak_data()),
        success=_("Cement leak saved."),
    )


@identified_access_required
@require_http_methods(["GET", "POST"])
def leak_edit(request, pk: int):
    leak = selectors.leak_get_for_user(user=request.user, leak_id=pk)
    procedure = leak.treated_level.procedure
    initial = {name: getattr(leak, name) for name in (*LEAK_FIELDS, "complication")}
    form = LeakForm(request.POST or None, procedure=procedure, initial=initial)
    return _simple_page(
        request,
        form=form,
        title=_("Edit cement leak at %(level)s") % {"level": leak.treated_level.get_level_display()},
        patient=procedure.patient,
        call=lambda f: services.leak_update(leak=leak, acting_user=request.user, data=f.leak_data()),
        success=_("Cement leak saved."),
    )


@identified_access_required
@require_http_methods(["GET", "POST"])
def leak_delete(request, pk: int):
    leak = selectors.leak_get_for_user(user=request.user, leak_id=pk)
    patient = leak.treated_level.procedure.patient
    if request.method == "POST":
        services.leak_remove(leak=leak, acting_user=request.user)
        messages.success(request, _("Cement leak removed."))
        return redirect("patients:detail", pk=patient.pk)
    return render(
        request, "procedures/confirm_delete.html", {"patient": patient, "title": _("Remove this cement leak?")}
    )


@identified_access_required
@require_http_methods(["GET", "POST"])
def complication_add(request, pk: int):
    procedure = selectors.procedure_get_for_user(user=request.user, procedure_id=pk)
    form = ComplicationForm(request.POST or None, procedure=procedure, initial={"onset_on": timezone.localdate()})
    return _simple_page(
        request,
        form=form,
        title=_("Report a complication of the procedure of %(date)s") % {"date": procedure.performed_on},
        patient=procedure.patient,
        call=lambda f: services.complication_report(
            procedure=procedure, acting_user=request.user, data=f.complication_data()
        ),
        success=_("Complication reported."),
    )


@identified_access_required
@require_http_methods(["GET", "POST"])
def complication_edit(request, pk: int):
    complication = selectors.complication_get_for_user(user=request.user, complication_id=pk)
    initial = {name: getattr(complication, name) for name in (*COMPLICATION_FIELDS, "treated_level")}
    form = ComplicationForm(request.POST or None, procedure=complication.procedure, initial=initial)
    return _simple_page(
        request,
        form=form,
        title=_("Edit complication"),
        patient=complication.procedure.patient,
        call=lambda f: services.complication_update(
            complication=complication, acting_user=request.user, data=f.complication_data()
        ),
        success=_("Complication saved."),
    )


def _simple_page(request, *, form, title, patient, call, success):
    if request.method == "POST" and form.is_valid():
        try:
            call(form)
        except ValidationError as exc:
            apply_errors(exc, {"": form, "leak": form, "complication": form}, form)
        else:
            messages.success(request, success)
            return redirect("patients:detail", pk=patient.pk)
    return render(request, "procedures/record_form.html", {"form": form, "title": title, "patient": patient})


# --- Lot recall ----------------------------------------------------------------------------------

RECALL_CSV_HEADER = [
    "study_id",
    "site",
    "procedure_date",
    "procedure_type",
    "level",
    "product",
    "lot_number",
    "given_name",
    "family_name",
    "phone",
    "email",
    "deceased_on",
    "contact_opt_out",
]


@identified_access_required
@require_GET
def lot_recall(request):
    """Which patients received lot X (or any lot of product Y)? Lot numbers are not PHI: GET is fine."""
    form = LotRecallForm(request.GET or None)
    levels = None
    if form.is_valid():
        product = form.cleaned_data["product"]
        levels = selectors.lot_recall_for_user(
            user=request.user, lot_number=form.cleaned_data["lot"], product_id=product.pk if product else None
        )
        as_csv = request.GET.get("format") == "csv"
        access_log_record(
            user=request.user,
            kind=AccessKind.LOT_RECALL_EXPORT if as_csv else AccessKind.LOT_RECALL,
            rows=len(levels),
        )
        if as_csv:
            return _recall_csv(levels)
    return render(request, "procedures/lot_recall.html", {"form": form, "levels": levels})


def _recall_csv(levels) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="lot-recall.csv"'
    response["Cache-Control"] = "no-store"
    writer = csv.writer(response)
    writer.writerow(RECALL_CSV_HEADER)
    for level in levels:
        patient = level.procedure.patient
        # Every cell, not only the patient's: lot numbers and product names are typed by staff too.
        writer.writerow(
            csv_row(
                [
                    patient.study_id,
                    level.procedure.site.code,
                    level.procedure.performed_on.isoformat(),
                    level.procedure.procedure_type,
                    level.level_code,
                    str(level.cement_lot.product),
                    level.cement_lot.lot_number,
                    patient.given_name,
                    patient.family_name,
                    patient.phone,
                    patient.email,
                    patient.deceased_on.isoformat() if patient.deceased_on else "",
                    "yes" if patient.contact_opt_out else "no",
                ]
            )
        )
    return response


# --- Barcode lookup (JSON, for filling the form as the scanner types) -------------------------


@identified_access_required
@require_POST
def barcode_lookup(request):
    """POST so that scanned strings stay out of access logs (they are not PHI, but long and noisy)."""
    return JsonResponse(describe_scan(request.POST.get("code", "")))
