"""Writes on the coordinator's worklist that are not part of the follow-up engine's life cycle.

Each service checks its acting user through ``registry.access`` itself: a view that forgot to
check cannot make it act on another site's item.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.utils.translation import gettext as _

from registry import access
from registry.followup.models import WorklistItem, WorklistStatus


@transaction.atomic
def worklist_item_assign(*, item_id: int, assignee_id: int | None, acting_user) -> WorklistItem:
    """Give an open item to a colleague with data-entry rights at its site (None: nobody).

    Another site's item is 404 (its existence does not leak); an assignee who may not enter data
    at the item's site is refused with a message.
    """
    item = access.get_scoped_or_404(
        WorklistItem.objects.select_for_update(of=("self",)).select_related("patient"), acting_user, pk=item_id
    )
    if not access.can_enter_data(acting_user, item.site_id):
        raise Http404
    if item.status != WorklistStatus.OPEN:
        raise ValidationError({"assignee": _("This item is already done.")})
    if assignee_id is not None and not access.site_members(site_ids=[item.site_id]).filter(pk=assignee_id).exists():
        raise ValidationError({"assignee": _("Choose someone who enters data at this site.")})
    item.assigned_to_id = assignee_id
    item.save(update_fields=["assigned_to", "updated_at"])
    return item
