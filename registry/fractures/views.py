"""Recording new fractures and adjudicating: thin views over services and selectors."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from registry import access
from registry.followup import selectors as followup_selectors
from registry.followup.models import WorklistKind
from registry.fractures import selectors, services
from registry.fractures.forms import ComplicationJudgementForm, FractureForm, JudgementForm, OpenSurgeryForm
from registry.patients import selectors as patient_selectors
from registry.procedures import selectors as procedure_selectors


def _apply(form, exc: ValidationError) -> None:
    for field, errors in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)


@require_http_methods(["GET", "POST"])
@access.identified_access_required
def fracture_new(request, pk: int):
    patient = patient_selectors.patient_get_for_user(user=request.user, patient_id=pk)
    if not access.can_enter_data(request.user, patient.site_id):
        raise Http404
    item = None
    if item_id := request.GET.get("item", "")[:12]:
        if not item_id.isdigit():
            raise Http404
        item = followup_selectors.worklist_item_get_for_user(user=request.user, item_id=int(item_id))
        if item.patient_id != patient.pk or item.kind != WorklistKind.CONFIRM_FRACTURE:
            raise Http404
    form = FractureForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.fracture_record(patient=patient, acting_user=request.user, worklist_item=item, **form.cleaned_data)
        except ValidationError as exc:
            _apply(form, exc)
        else:
            messages.success(request, _("New fracture recorded."))
            return redirect("patients:detail", pk=patient.pk)
    return render(request, "fractures/fracture_form.html", {"patient": patient, "form": form, "item": item})


@require_http_methods(["GET", "POST"])
@access.identified_access_required
def open_surgery_new(request, pk: int):
    level = procedure_selectors.treated_level_get_for_user(user=request.user, treated_level_id=pk)
    patient = level.procedure.patient
    if not access.can_enter_data(request.user, level.procedure.site_id):
        raise Http404
    form = OpenSurgeryForm(request.POST or None, fractures=selectors.patient_fractures(patient=patient))
    if request.method == "POST" and form.is_valid():
        try:
            services.open_surgery_record(index_level=level, acting_user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            _apply(form, exc)
        else:
            messages.success(request, _("Re-operation recorded."))
            return redirect("patients:detail", pk=patient.pk)
    return render(request, "fractures/open_surgery_form.html", {"patient": patient, "level": level, "form": form})


@require_http_methods(["GET"])
@access.identified_access_required
def review(request):
    if access.adjudicator_site_ids(request.user) == []:
        raise Http404
    complications, fractures = selectors.awaiting_adjudication(user=request.user)
    return render(
        request,
        "fractures/review.html",
        {
            "complications": [
                (c, ComplicationJudgementForm(initial=_initial(c), prefix=f"c{c.pk}")) for c in complications
            ],
            "fractures": [(f, JudgementForm(prefix=f"f{f.pk}")) for f in fractures],
        },
    )


def _initial(complication) -> dict:
    return {"complication_type": complication.complication_type, "severity": complication.severity}


@require_POST
@access.identified_access_required
def complication_sign_off(request, pk: int):
    complication = selectors.complication_get_for_adjudicator(user=request.user, complication_id=pk)
    form = ComplicationJudgementForm(request.POST, prefix=f"c{pk}")
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.complication_adjudicate(
                complication=complication,
                acting_user=request.user,
                complication_type=data["complication_type"],
                severity=data["severity"],
                relation=data["relation"],
            )
        except ValidationError as exc:
            messages.error(request, _("Not signed off: %(errors)s") % {"errors": "; ".join(exc.messages)})
        else:
            messages.success(request, _("Complication signed off."))
    else:
        messages.error(request, _("Not signed off: choose type, severity and relation."))
    return redirect("fractures:review")


@require_POST
@access.identified_access_required
def fracture_sign_off(request, pk: int):
    fracture = selectors.fracture_get_for_adjudicator(user=request.user, fracture_id=pk)
    form = JudgementForm(request.POST, prefix=f"f{pk}")
    if form.is_valid():
        try:
            services.fracture_adjudicate(
                fracture=fracture,
                acting_user=request.user,
                severity=form.cleaned_data["severity"],
                relation=form.cleaned_data["relation"],
            )
        except ValidationError as exc:
            messages.error(request, _("Not signed off: %(errors)s") % {"errors": "; ".join(exc.messages)})
        else:
            messages.success(request, _("New fracture signed off."))
    else:
        messages.error(request, _("Not signed off: choose severity and relation."))
    return redirect("fractures:review")
