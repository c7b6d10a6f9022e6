from django import forms
from django.utils.translation import gettext_lazy as _

from registry.imports.mapping import DATE_FORMATS
from registry.imports.models import ImportMapping
from registry.imports.reading import CSV, XLSX


class SiteChoiceForm(forms.Form):
    site = forms.ModelChoiceField(queryset=None, empty_label=None, label=_("Site"))

    def __init__(self, *args, sites, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = sites


class UploadForm(SiteChoiceForm):
    # Its size (and everything else about it) is bounded by reading.read_upload, as in the API.
    file = forms.FileField(label=_("Spreadsheet (CSV or Excel .xlsx)"))
    mapping = forms.ModelChoiceField(
        queryset=None,
        required=False,
        label=_("Your columns and codes (a saved mapping)"),
        empty_label=_("None: the file has the template's columns"),
    )

    def __init__(self, *args, sites, **kwargs):
        super().__init__(*args, sites=sites, **kwargs)
        self.fields["mapping"].queryset = ImportMapping.objects.filter(site__in=sites)

    def clean(self):
        data = super().clean()
        mapping, site = data.get("mapping"), data.get("site")
        if mapping and site and mapping.site_id != site.pk:
            self.add_error("mapping", _("This mapping was saved for another site."))
        return data


MAPPING_KINDS = [("headers", _("A file of ours (its header row)")), ("redcap", _("A REDCap data dictionary (CSV)"))]


class MappingSuggestForm(SiteChoiceForm):
    name = forms.CharField(label=_("Name of the mapping"), max_length=80)
    kind = forms.ChoiceField(label=_("Suggest from"), choices=MAPPING_KINDS)
    file = forms.FileField(label=_("File"))
    export = forms.FileField(
        label=_("REDCap raw data export (optional: its events become time points)"), required=False
    )


class MappingSaveForm(SiteChoiceForm):
    name = forms.CharField(max_length=80, widget=forms.HiddenInput)
    date_format = forms.ChoiceField(
        label=_("Date format"), required=False, choices=[("", _("As the template"))] + [(f, f) for f in DATE_FORMATS]
    )
    record_column = forms.CharField(
        label=_("Record column (fills patient and procedure down)"), required=False, max_length=100
    )
    codes = forms.CharField(
        label=_("Codes, one per line: column: your code = registry code"),
        required=False,
        max_length=100_000,
        widget=forms.Textarea(attrs={"rows": 12}),
    )

    def parsed_codes(self) -> dict[str, dict[str, str]]:
        codes: dict[str, dict[str, str]] = {}
        for line in self.cleaned_data.get("codes", "").splitlines():
            column, _sep, pair = line.partition(":")
            theirs, _sep, ours = pair.partition("=")
            if column.strip() and theirs.strip():
                codes.setdefault(column.strip(), {})[theirs.strip()] = ours.strip()
        return codes


class ExportForm(SiteChoiceForm):
    file_format = forms.ChoiceField(choices=[(CSV, "CSV"), (XLSX, "Excel (.xlsx)")], label=_("Format"))
