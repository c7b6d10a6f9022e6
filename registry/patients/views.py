"""Patient screens: the list, the patient page, edits, consent and death. Thin: parse, call, render."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.template.loader import select_template
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from registry.access import identified_access_required
from registry.core.audit import access_log_record
from registry.core.models import AccessKind
from registry.core.pagination import BoundedCountPaginator, page_number
from registry.patients import selectors, services
from registry.patients.forms import (
    PATIENT_FIELDSETS,
    ConsentForm,
    DeceasedForm,
    PatientFilterForm,
    PatientForm,
    PatientSearchForm,
    WithdrawConsentForm,
    apply_errors,
    fieldsets,
)
from registry.patients.models import FollowUpStatus
from registry.patients.services import PATIENT_EDITABLE_FIELDS

# The search text lives in the session, never in the URL (it may be a name or an MRN).
SEARCH_SESSION_KEY = "patients.search"
PAGE_SIZES = (25, 50, 100)


def _page_size(request) -> int:
    try:
        size = int(request.GET.get("per_page", PAGE_SIZES[0]))
    except ValueError:
        return PAGE_SIZES[0]
    return size if size in PAGE_SIZES else PAGE_SIZES[0]


@identified_access_required
@require_http_methods(["GET", "POST"])
def patient_list(request):
    if request.method == "POST":
        search = PatientSearchForm(request.POST)
        if "clear" in request.POST or not search.is_valid():
            request.session.pop(SEARCH_SESSION_KEY, None)
        else:
            request.session[SEARCH_SESSION_KEY] = search.cleaned_data["q"]
        # Back to the same filters (vocabulary values only), first page.
        params = request.GET.copy()
        params.pop("page", None)
        return redirect(f"{reverse('patients:list')}?{params.urlencode()}" if params else reverse("patients:list"))

    query = request.session.get(SEARCH_SESSION_KEY, "")
    filters = PatientFilterForm(request.GET or None)
    chosen = filters.cleaned_data if filters.is_valid() else {}
    patients = selectors.patient_list_for_user(
        user=request.user,
        query=query,
        procedure_type=chosen.get("procedure_type", ""),
        indication=chosen.get("indication", ""),
        followup_status=chosen.get("followup_status", ""),
    )
    # Paginate ids, then load the page's rows: the cost stays that of one page, however deep. The
    # count stops early, so a list over a million patients costs what the page shows.
    page = BoundedCountPaginator(
        patients.values_list("pk", flat=True), _page_size(request), number=page_number(request.GET.get("page"))
    ).requested_page()
    page.object_list = selectors.patient_list_rows(patient_ids=list(page.object_list))
    for patient in page.object_list:
        patient.followup_status = FollowUpStatus(selectors.followup_status_of(patient))
    access_log_record(user=request.user, kind=AccessKind.CASE_LIST, rows=len(page.object_list))
    params = request.GET.copy()
    params.pop("page", None)
    return render(
        request,
        "patients/patient_list.html",
        {
            "page": page,
            "search_form": PatientSearchForm(initial={"q": query}),
            "query": query,
            "filter_form": filters if request.GET else PatientFilterForm(),
            "page_params": params.urlencode(),
            "page_sizes": PAGE_SIZES,
        },
    )


@identified_access_required
def patient_detail(request, pk: int):
    patient = selectors.patient_get_for_user(user=request.user, patient_id=pk)
    access_log_record(user=request.user, kind=AccessKind.PATIENT_PAGE, site_id=patient.site_id, record=patient)
    return render(
        request,
        "patients/patient_detail.html",
        {
            "patient": patient,
            "followup_status": FollowUpStatus(selectors.followup_status_of(patient)),
            "procedures": selectors.patient_case_history(patient=patient),
            "consent_events": selectors.patient_consent_history(patient=patient),
            "bone_health_actions": selectors.patient_bone_health_actions(patient=patient),
            "audit_trail": selectors.patient_audit_trail(patient=patient),
            # The follow-up app ships this include; until then an empty one stands in.
            "followup_events_template": select_template(
                ["followup/_patient_events.html", "patients/_no_followup_events.html"]
            ),
        },
    )


def _edit_page(request, *, patient, form, title, call, success, groups=None):
    """POST: run ``call(form)`` (a service); on a ValidationError show it next to the fields."""
    if request.method == "POST" and form.is_valid():
        try:
            call(form)
        except ValidationError as exc:
            apply_errors(exc, {"": form, "patient": form}, form)
        else:
            messages.success(request, success)
            return redirect("patients:detail", pk=patient.pk)
    return render(
        request, "patients/patient_form.html", {"patient": patient, "form": form, "title": title, "groups": groups}
    )


@identified_access_required
@require_http_methods(["GET", "POST"])
def patient_edit(request, pk: int):
    patient = selectors.patient_get_for_user(user=request.user, patient_id=pk)
    initial = {name: getattr(patient, name) for name in PATIENT_EDITABLE_FIELDS}
    form = PatientForm(request.POST or None, initial=initial)
    return _edit_page(
        request,
        patient=patient,
        form=form,
        title=_("Edit patient %(id)s") % {"id": patient.study_id},
        call=lambda f: services.patient_update(patient=patient, acting_user=request.user, data=f.patient_data()),
        success=_("Patient updated."),
        groups=fieldsets(form, PATIENT_FIELDSETS),
    )


@identified_access_required
@require_http_methods(["GET", "POST"])
def patient_consent(request, pk: int):
    patient = selectors.patient_get_for_user(user=request.user, patient_id=pk)
    form = ConsentForm(request.POST or None, initial={"status": patient.consent_status})
    return _edit_page(
        request,
        patient=patient,
        form=form,
        title=_("Record a consent decision for %(id)s") % {"id": patient.study_id},
        call=lambda f: services.consent_record(patient=patient, acting_user=request.user, **f.cleaned_data),
        success=_("Consent decision recorded."),
    )


@identified_access_required
@require_http_methods(["GET", "POST"])
def patient_withdraw(request, pk: int):
    patient = selectors.patient_get_for_user(user=request.user, patient_id=pk)
    form = WithdrawConsentForm(request.POST or None)
    return _edit_page(
        request,
        patient=patient,
        form=form,
        title=_("Withdraw consent of %(id)s") % {"id": patient.study_id},
        call=lambda f: services.consent_withdraw(patient=patient, acting_user=request.user, **f.cleaned_data),
        success=_("Consent withdrawn: all pending follow-up contact stops now. Data collected so far stays."),
    )


@identified_access_required
@require_http_methods(["GET", "POST"])
def patient_deceased(request, pk: int):
    patient = selectors.patient_get_for_user(user=request.user, patient_id=pk)
    form = DeceasedForm(request.POST or None, initial={"deceased_on": patient.deceased_on})
    return _edit_page(
        request,
        patient=patient,
        form=form,
        title=_("Record the death of %(id)s") % {"id": patient.study_id},
        call=lambda f: services.patient_mark_deceased(
            patient=patient, acting_user=request.user, deceased_on=f.cleaned_data["deceased_on"]
        ),
        success=_("Date of death recorded: all follow-up contact stops."),
    )
