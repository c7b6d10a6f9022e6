from django import forms
from django.utils.translation import gettext_lazy as _

from registry.core.models import FREE_TEXT_MAX_LENGTH
from registry.fractures.models import ImagingModality
from registry.procedures.models import AdverseEventRelation, ComplicationType, SirSeverity, VertebralLevel


class FractureForm(forms.Form):
    levels = forms.TypedMultipleChoiceField(
        label=_("Fractured level(s)"),
        choices=VertebralLevel.choices,
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("The registry classifies each level (adjacent, remote, index) from the treated levels."),
    )
    diagnosed_on = forms.DateField(label=_("Date of diagnosis"), widget=forms.DateInput(attrs={"type": "date"}))
    confirmed_by = forms.ChoiceField(label=_("Confirmed by"), choices=ImagingModality.choices)
    symptomatic = forms.TypedChoiceField(
        label=_("Symptomatic"),
        choices=[("yes", _("Yes")), ("no", _("No"))],
        coerce=lambda value: value == "yes",
        widget=forms.RadioSelect,
    )
    note = forms.CharField(
        label=_("Note"), required=False, max_length=FREE_TEXT_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 2})
    )


class JudgementForm(forms.Form):
    severity = forms.ChoiceField(label=_("SIR severity"), choices=SirSeverity.choices)
    relation = forms.ChoiceField(label=_("Relation to the procedure"), choices=AdverseEventRelation.choices)


class ComplicationJudgementForm(JudgementForm):
    complication_type = forms.ChoiceField(label=_("Type"), choices=ComplicationType.choices)


class OpenSurgeryForm(forms.Form):
    performed_on = forms.DateField(label=_("Date of surgery"), widget=forms.DateInput(attrs={"type": "date"}))
    fracture = forms.ModelChoiceField(label=_("For the fracture"), queryset=None, required=False)
    note = forms.CharField(
        label=_("Note"), required=False, max_length=FREE_TEXT_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args, fractures, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["fracture"].queryset = fractures
