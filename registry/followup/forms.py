from django import forms
from django.utils.translation import gettext_lazy as _

from registry.core.models import FREE_TEXT_MAX_LENGTH
from registry.patients.models import BoneHealthActionStatus


class WorklistDoneForm(forms.Form):
    note = forms.CharField(
        label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=FREE_TEXT_MAX_LENGTH
    )


class BoneHealthOutcomeForm(WorklistDoneForm):
    outcome = forms.ChoiceField(
        label=_("Outcome"),
        choices=[
            (BoneHealthActionStatus.DONE, _("Done")),
            (BoneHealthActionStatus.DECLINED, _("Declined")),
            (BoneHealthActionStatus.NOT_APPLICABLE, _("Not applicable")),
        ],
    )
    done_on = forms.DateField(label=_("Done on"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        if data.get("outcome") == BoneHealthActionStatus.DONE and not data.get("done_on"):
            self.add_error("done_on", _("Give the date it was done."))
        return data
