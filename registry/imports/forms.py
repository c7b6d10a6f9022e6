from django import forms
from django.utils.translation import gettext_lazy as _

from registry.imports.reading import CSV, XLSX
from registry.imports.services import MAX_FILE_BYTES


class SiteChoiceForm(forms.Form):
    site = forms.ModelChoiceField(queryset=None, empty_label=None, label=_("Site"))

    def __init__(self, *args, sites, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = sites


class UploadForm(SiteChoiceForm):
    file = forms.FileField(label=_("Spreadsheet (CSV or Excel .xlsx)"))

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_FILE_BYTES:
            raise forms.ValidationError(_("The file is larger than 50 MB: split it by year."))
        return upload


class ExportForm(SiteChoiceForm):
    file_format = forms.ChoiceField(choices=[(CSV, "CSV"), (XLSX, "Excel (.xlsx)")], label=_("Format"))
