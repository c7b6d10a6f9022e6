"""Forms for patients and consent: parse and convert only; the services hold the rules.

The forms are plain ``Form`` classes built from the model fields, so that every range error comes
from one place (the model, through the service's ``full_clean``) and is put back next to its field
by ``apply_errors``.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from registry.core.models import FREE_TEXT_MAX_LENGTH
from registry.core.numbers import DecimalCommaFormField
from registry.patients.models import ConsentStatus, FollowUpStatus, Patient
from registry.patients.services import CONSENT_FIELDS, PATIENT_EDITABLE_FIELDS


def formfield(model_field, **kwargs):
    """Native date pickers, and decimal inputs that take a comma or a point ("7,5" or "7.5")."""
    if isinstance(model_field, models.DecimalField):
        kwargs.setdefault("form_class", DecimalCommaFormField)
    field = model_field.formfield(**kwargs)
    if field is None:
        return None
    if isinstance(field, forms.DateField):
        field.widget = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    return field


def form_class(name: str, model, field_names, base=forms.Form, **extra):
    """A plain form whose fields are the model's (same names, labels, choices, required-ness)."""
    fields = forms.fields_for_model(model, fields=list(field_names), formfield_callback=formfield)
    return type(name, (base,), {**fields, **extra})


def apply_errors(exc: ValidationError, forms_by_key: dict[str, forms.Form], fallback: forms.Form) -> None:
    """Put a service's keyed errors (``"levels.1.cement_volume_ml"``) next to their fields.

    ``forms_by_key`` maps a key prefix (``"levels.1"``) to the form that rendered that record; an
    error on a field the form does not show becomes one of its general errors.
    """
    if not hasattr(exc, "error_dict"):
        fallback.add_error(None, exc.messages)
        return
    for key, messages in exc.message_dict.items():
        prefix, _, field = key.rpartition(".")
        form = forms_by_key.get(prefix, fallback)
        field = getattr(form, "error_aliases", {}).get(field, field)
        target = field if field in form.fields else None
        for message in messages:
            if target is None and field not in ("", "__all__"):
                form.add_error(None, f"{field.replace('_', ' ').capitalize()}: {message}")
            else:
                form.add_error(target, message)


class BasePatientForm(forms.Form):
    def patient_data(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.fields if name in PATIENT_EDITABLE_FIELDS}


PatientForm = form_class("PatientForm", Patient, PATIENT_EDITABLE_FIELDS, base=BasePatientForm)


class PatientRegistrationForm(
    form_class("_Registration", Patient, (*PATIENT_EDITABLE_FIELDS, *CONSENT_FIELDS), base=BasePatientForm)
):
    """A new patient (in the new-case flow): demographics, consent and, with several sites, the site."""

    site = forms.ModelChoiceField(queryset=None, label=_("Site"))

    def __init__(self, *args, sites=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = sites
        if sites is not None and len(sites) == 1:
            self.fields["site"].initial = sites[0].pk
            self.fields["site"].widget = forms.HiddenInput()
        self.fields["consent_status"].initial = ConsentStatus.PENDING

    def patient_data(self) -> dict:
        data = super().patient_data()
        for name in CONSENT_FIELDS:
            data[name] = self.cleaned_data[name]
        return data


class PatientSearchForm(forms.Form):
    """Search text goes by POST into the session: names and MRNs never appear in a URL or log."""

    q = forms.CharField(label=_("Study id, MRN or name"), required=False, max_length=100)


class PatientFilterForm(forms.Form):
    """Filters are vocabulary values, not PHI: they travel in the query string."""

    procedure_type = forms.ChoiceField(label=_("Procedure type"), required=False)
    indication = forms.ChoiceField(label=_("Indication"), required=False)
    followup_status = forms.ChoiceField(
        label=_("Follow-up status"), required=False, choices=[("", _("Any")), *FollowUpStatus.choices]
    )

    def __init__(self, *args, **kwargs):
        from registry.procedures.models import Indication, ProcedureType

        super().__init__(*args, **kwargs)
        self.fields["procedure_type"].choices = [("", _("Any")), *ProcedureType.choices]
        self.fields["indication"].choices = [("", _("Any")), *Indication.choices]


class ConsentForm(forms.Form):
    status = forms.ChoiceField(label=_("Consent decision"), choices=ConsentStatus.choices)
    effective_on = forms.DateField(label=_("Date"), widget=forms.DateInput(attrs={"type": "date"}))
    form_version = forms.CharField(label=_("Form version"), required=False, max_length=40)
    note = forms.CharField(
        label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=FREE_TEXT_MAX_LENGTH
    )


class WithdrawConsentForm(forms.Form):
    effective_on = forms.DateField(label=_("Date of withdrawal"), widget=forms.DateInput(attrs={"type": "date"}))
    note = forms.CharField(
        label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=FREE_TEXT_MAX_LENGTH
    )


class DeceasedForm(forms.Form):
    deceased_on = forms.DateField(label=_("Date of death"), widget=forms.DateInput(attrs={"type": "date"}))


PATIENT_FIELDSETS = (
    (
        _("Identity and contact"),
        ("site", "mrn", "given_name", "family_name", "date_of_birth", "sex", "email", "phone", "preferred_language"),
    ),
    (_("Consent"), CONSENT_FIELDS),
    (
        _("Risk factors"),
        (
            "anticoagulant_use",
            "antiplatelet_use",
            "coagulopathy",
            "copd",
            "sleep_apnoea",
            "heart_failure",
            "diabetes",
            "immunosuppression",
            "prior_spondylodiscitis",
            "prior_vertebral_augmentation",
            "cement_or_contrast_allergy",
        ),
    ),
    (_("Bone health at entry"), ("last_dxa_on", "lowest_t_score", "osteoporosis_therapy", "calcium_vitamin_d")),
    (_("Oncology (neoplastic indication)"), ("primary_tumour", "lesion_type", "karnofsky", "asa_class")),
)


def fieldsets(form: forms.Form, spec) -> list[tuple[str, list]]:
    """Bound fields grouped for the template: [(title, [field, ...])], skipping absent fields."""
    groups = []
    for title, names in spec:
        bound = [form[name] for name in names if name in form.fields]
        if bound:
            groups.append((title, bound))
    return groups
