from django import forms
from django.utils.translation import gettext_lazy as _

from registry.core.models import FREE_TEXT_MAX_LENGTH
from registry.followup.models import StaffMailPreference, WorklistKind
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


class WorklistFilterForm(forms.Form):
    """The worklist's filters from the query string; a value outside the choices is ignored."""

    WHEN_CHOICES = [("", _("Any date")), ("overdue", _("Overdue")), ("today", _("Due today"))]

    kind = forms.ChoiceField(label=_("What"), required=False)
    site = forms.TypedChoiceField(label=_("Site"), required=False, coerce=int, empty_value=None)
    when = forms.ChoiceField(label=_("Due"), required=False, choices=WHEN_CHOICES)
    assignee = forms.ChoiceField(label=_("Assigned to"), required=False)

    def __init__(self, data, *, sites, assignees):
        super().__init__(data)
        self.fields["kind"].choices = [("", _("Everything")), *WorklistKind.choices]
        self.fields["site"].choices = [("", _("All my sites")), *((site.pk, site.code) for site in sites)]
        self.fields["assignee"].choices = [
            ("", _("Anyone")),
            ("me", _("Me")),
            ("none", _("Nobody yet")),
            *((str(user.pk), user.get_full_name() or user.username) for user in assignees),
        ]

    def filters(self) -> dict:
        """The valid filters only: a tampered value drops that filter, not the whole page."""
        self.is_valid()
        return {name: self.cleaned_data[name] for name in self.fields if self.cleaned_data.get(name)}


class WorklistAssignForm(forms.Form):
    assignee = forms.IntegerField(required=False, min_value=1)


class StaffMailPreferenceForm(forms.ModelForm):
    class Meta:
        model = StaffMailPreference
        fields = ["language", "red_flag_alert", "opt_out_notice", "daily_digest"]
