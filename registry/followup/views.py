from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from registry import access
from registry.followup import selectors, services
from registry.followup.forms import BoneHealthOutcomeForm, WorklistDoneForm
from registry.followup.models import WorklistKind

SECTIONS = [
    (gettext_lazy("Calls: missed surveys and patients without email"), WorklistKind.calls()),
    (gettext_lazy("Red flags"), (WorklistKind.RED_FLAG,)),
    (gettext_lazy("New fractures to confirm"), (WorklistKind.CONFIRM_FRACTURE,)),
    (gettext_lazy("Bone health"), (WorklistKind.BONE_HEALTH,)),
    (gettext_lazy("Failed emails"), (WorklistKind.FAILED_EMAIL,)),
    (gettext_lazy("Stopped contact"), (WorklistKind.OPTED_OUT, WorklistKind.WITHDRAWN)),
]


@access.identified_access_required
def worklist(request):
    items = list(selectors.worklist_for_user(user=request.user))
    sections = [(title, [item for item in items if item.kind in kinds]) for title, kinds in SECTIONS]
    return render(request, "followup/worklist.html", {"sections": sections, "total": len(items)})


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
