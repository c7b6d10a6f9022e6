import re

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from registry import access
from registry.followup import selectors, services, staffmail
from registry.followup import worklist as worklist_services
from registry.followup.forms import (
    BoneHealthOutcomeForm,
    StaffMailPreferenceForm,
    WorklistAssignForm,
    WorklistDoneForm,
    WorklistFilterForm,
)
from registry.followup.models import WorklistKind

SAFE_QUERY = re.compile(r"\?[\w=&%+.-]{0,500}")


@access.identified_access_required
def worklist(request):
    sites = access.sites_for_user(request.user)
    members = access.site_members_by_site(site_ids=access.identified_site_ids(request.user))
    assignees = sorted({user for users in members.values() for user in users}, key=lambda user: user.username)
    form = WorklistFilterForm(request.GET, sites=sites, assignees=assignees)
    filters = form.filters()
    page, counts = selectors.worklist_page(user=request.user, page=request.GET.get("page"), **filters)
    for item in page:
        item.assignable = members.get(item.site_id, [])
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "counts": [(kind, label, counts.get(kind, 0)) for kind, label in WorklistKind.choices],
        "total": sum(counts.values()),
        "filters": filters,
        "query": query.urlencode(),
        "calls": WorklistKind.calls(),
    }
    return render(request, "followup/worklist.html", context)


@require_POST
@access.identified_access_required
def worklist_assign(request, item_id: int):
    form = WorklistAssignForm(request.POST)
    # Back to the same filters and page; only a plain query string is taken.
    back = request.POST.get("next", "")
    if not SAFE_QUERY.fullmatch(back):
        back = ""
    if form.is_valid():
        try:
            item = worklist_services.worklist_item_assign(
                item_id=item_id, assignee_id=form.cleaned_data["assignee"], acting_user=request.user
            )
        except ValidationError as exc:
            messages.error(request, _("Not saved: %(errors)s") % {"errors": "; ".join(exc.messages)})
        else:
            messages.success(request, _("Assignment saved for %(study_id)s.") % {"study_id": item.patient.study_id})
    return redirect(reverse("followup:worklist") + back)


@require_POST
@access.identified_access_required
def worklist_done(request, item_id: int):
    item = selectors.worklist_item_get_for_user(user=request.user, item_id=item_id)
    if not access.can_enter_data(request.user, item.site_id):
        return redirect("followup:worklist")
    is_bone = item.kind == WorklistKind.BONE_HEALTH and item.bone_health_action_id
    form = (BoneHealthOutcomeForm if is_bone else WorklistDoneForm)(request.POST)
    if not form.is_valid():
        errors = "; ".join(str(error) for errors in form.errors.values() for error in errors)
        messages.error(request, _("Not saved: %(errors)s") % {"errors": errors})
        return redirect("followup:worklist")
    try:
        if is_bone:
            services.bone_health_action_resolve(
                action=item.bone_health_action,
                acting_user=request.user,
                status=form.cleaned_data["outcome"],
                done_on=form.cleaned_data.get("done_on"),
                note=form.cleaned_data["note"],
            )
        else:
            services.worklist_item_done(item=item, acting_user=request.user, note=form.cleaned_data["note"])
    except ValidationError as exc:
        messages.error(request, _("Not saved: %(errors)s") % {"errors": "; ".join(exc.messages)})
        return redirect("followup:worklist")
    messages.success(request, _("Marked done for %(study_id)s.") % {"study_id": item.patient.study_id})
    return redirect("followup:worklist")


@access.identified_access_required
def staff_mail_settings(request):
    """Which staff emails the user receives, and in which language (their own settings only)."""
    form = StaffMailPreferenceForm(request.POST or None, instance=staffmail.staff_mail_preference_for(request.user))
    if request.method == "POST" and form.is_valid():
        staffmail.staff_mail_preference_save(acting_user=request.user, **form.cleaned_data)
        messages.success(request, _("Your email settings are saved."))
        return redirect("followup:staff_mail_settings")
    return render(request, "followup/staff_mail_settings.html", {"form": form})
