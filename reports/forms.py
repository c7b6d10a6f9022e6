from __future__ import annotations

import datetime as dt

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from registry import access
from registry.patients.models import Site
from registry.procedures.models import Indication, ProcedureType
from reports.loaders import CohortFilter
from reports.models import ExportFormat
from reports.services import dashboard_must_suppress, previous_quarter, quarter_bounds


class CohortFilterForm(forms.Form):
    """Site (only those ``site_ids`` allows), period, procedure type and indication."""

    site = forms.ModelChoiceField(queryset=Site.objects.none(), required=False, empty_label=_("All my sites"))
    performed_from = forms.DateField(
        label=_("Procedures from"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    performed_to = forms.DateField(label=_("to"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    procedure_type = forms.ChoiceField(choices=[("", _("All types")), *ProcedureType.choices], required=False)
    indication = forms.ChoiceField(choices=[("", _("All indications")), *Indication.choices], required=False)

    def __init__(self, *args, site_ids: list[int] | None, quarters_only: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.site_ids = site_ids
        # Aggregate-only users (reviewers) choose one completed quarter, seen as known at the end of
        # the last completed quarter: two windows a day apart, a window still growing, or all time
        # minus a quarter would otherwise differ by a few patients, whose values the difference
        # reveals (reports.disclosure).
        self.quarters_only = quarters_only
        self.last_quarter = quarter_bounds(*previous_quarter(timezone.localdate()))
        if quarters_only:
            self.fields["performed_from"].help_text = _("The first day of a quarter (1 January, 1 April, ...).")
            self.fields["performed_to"].help_text = _("The last day of a quarter (31 March, 30 June, ...).")
        sites = Site.objects.filter(active=True)
        self.fields["site"].queryset = sites if site_ids is None else sites.filter(id__in=site_ids)
        if site_ids is None:
            self.fields["site"].empty_label = _("All sites")

    def clean(self):
        data = super().clean()
        start, end = data.get("performed_from"), data.get("performed_to")
        if start and end and start > end:
            self.add_error("performed_to", _("The end of the period is before its start."))
        if self.quarters_only:
            if start and (start.day != 1 or start.month not in (1, 4, 7, 10)):
                self.add_error("performed_from", _("Choose the first day of a quarter."))
            if end and (end + dt.timedelta(days=1)).day != 1 or end and end.month not in (3, 6, 9, 12):
                self.add_error("performed_to", _("Choose the last day of a quarter."))
            if not start and not end:
                data["performed_from"], data["performed_to"] = start, end = self.last_quarter
            if bool(start) != bool(end):
                self.add_error("performed_to", _("Give both ends of the quarter."))
            elif end > self.last_quarter[1]:
                self.add_error("performed_to", _("Choose a quarter that has ended."))
            elif (start.year, (start.month - 1) // 3) != (end.year, (end.month - 1) // 3):
                # Nested windows (a quarter, and that quarter with the next) would differ by a quarter
                # whose small cells are hidden on its own page.
                self.add_error("performed_to", _("Choose one quarter: its first and last day."))
        return data

    def as_of(self) -> dt.date:
        """The day the figures are as known on: today, or for reviewers the end of the last
        completed quarter (their figures change once a quarter)."""
        return self.last_quarter[1] if self.quarters_only else timezone.localdate()

    def cohort(self) -> CohortFilter:
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        if self.quarters_only and not data:
            data = dict(zip(("performed_from", "performed_to"), self.last_quarter, strict=True))
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
    quarters_only = dashboard_must_suppress(request.user, None if ids is None else tuple(ids))
    return CohortFilterForm(request.GET or None, site_ids=ids, quarters_only=quarters_only)


class ResearchExportForm(CohortFilterForm):
    file_format = forms.ChoiceField(label=_("Format"), choices=ExportFormat.choices, initial=ExportFormat.XLSX)


class RebuildForm(forms.Form):
    site = forms.ModelChoiceField(queryset=Site.objects.all(), required=False, empty_label=_("Whole registry"))
    year = forms.IntegerField(min_value=2000, max_value=2100)
    quarter = forms.IntegerField(min_value=1, max_value=4)
