from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from registry import access
from registry.patients.models import Site
from registry.procedures.models import Indication, ProcedureType
from reports.loaders import CohortFilter
from reports.models import ExportFormat


class CohortFilterForm(forms.Form):
    """Site (only those ``site_ids`` allows), period, procedure type and indication."""

    site = forms.ModelChoiceField(queryset=Site.objects.none(), required=False, empty_label=_("All my sites"))
    performed_from = forms.DateField(
        label=_("Procedures from"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    performed_to = forms.DateField(label=_("to"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    procedure_type = forms.ChoiceField(choices=[("", _("All types")), *ProcedureType.choices], required=False)
    indication = forms.ChoiceField(choices=[("", _("All indications")), *Indication.choices], required=False)

    def __init__(self, *args, site_ids: list[int] | None, **kwargs):
        super().__init__(*args, **kwargs)
        self.site_ids = site_ids
        sites = Site.objects.filter(active=True)
        self.fields["site"].queryset = sites if site_ids is None else sites.filter(id__in=site_ids)
        if site_ids is None:
            self.fields["site"].empty_label = _("All sites")

    def clean(self):
        data = super().clean()
        start, end = data.get("performed_from"), data.get("performed_to")
        if start and end and start > end:
            self.add_error("performed_to", _("The end of the period is before its start."))
        return data

    def cohort(self) -> CohortFilter:
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        site = data.get("site")
        site_ids = None if self.site_ids is None else tuple(self.site_ids)
        if site is not None:
            site_ids = (site.id,)
        return CohortFilter(
            site_ids=site_ids,
            performed_from=data.get("performed_from"),
            performed_to=data.get("performed_to"),
            procedure_type=data.get("procedure_type", ""),
            indication=data.get("indication", ""),
        )


def dashboard_filter_form(request) -> CohortFilterForm:
    ids = access.aggregate_site_ids(request.user)
    return CohortFilterForm(request.GET or None, site_ids=ids)


class ResearchExportForm(CohortFilterForm):
    file_format = forms.ChoiceField(label=_("Format"), choices=ExportFormat.choices, initial=ExportFormat.XLSX)


class RebuildForm(forms.Form):
    site = forms.ModelChoiceField(queryset=Site.objects.all(), required=False, empty_label=_("Whole registry"))
    year = forms.IntegerField(min_value=2000, max_value=2100)
    quarter = forms.IntegerField(min_value=1, max_value=4)
