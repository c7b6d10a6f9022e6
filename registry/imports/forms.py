from django import forms
from django.utils.translation import gettext_lazy as _

from registry.imports.reading import CSV, XLSX


class SiteChoiceForm(forms.Form):
    site = forms.ModelChoiceField(queryset=None, empty_label=None, label=_("Site"))

    def __init__(self, *args, sites, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = sites


class UploadForm(SiteChoiceForm):
    # Its size (and everything else about it) is bounded by reading.read_upload, as in the API.
    file = forms.FileField(label=_("Spreadsheet (CSV or Excel .xlsx)"))


class ExportForm(SiteChoiceForm):
    file_format = forms.ChoiceField(choices=[(CSV, "CSV"), (XLSX, "Excel (.xlsx)")], label=_("Format"))
