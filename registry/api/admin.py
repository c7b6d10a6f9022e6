"""API tokens in the admin: listed by user, start and expiry — never the secret, nor its hash.

A new token is issued here too; its secret is shown once, in the message after saving.
"""

from django import forms
from django.contrib import admin, messages
from knox.models import AuthToken

from registry import access
from registry.api.services import api_token_issue

admin.site.unregister(AuthToken)


class TokenIssueForm(forms.ModelForm):
    days = forms.IntegerField(min_value=1, max_value=366, required=False, help_text="Empty: API_TOKEN_DAYS.")

    class Meta:
        model = AuthToken
        fields = ["user"]

    def clean_user(self):
        user = self.cleaned_data["user"]
        if not access.can_see_identified(user):
            raise forms.ValidationError(
                "This user has no coordinator or investigator role: the API has nothing for them."
            )
        return user


@admin.register(AuthToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["user", "token_key", "created", "expiry"]
    list_filter = ["expiry"]
    search_fields = ["user__username"]
    raw_id_fields = ["user"]
    readonly_fields = ["user", "token_key", "created", "expiry"]
    fields = ["user", "token_key", "created", "expiry"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = TokenIssueForm
            kwargs["fields"] = ["user", "days"]
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        return ["user", "days"] if obj is None else self.fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def has_change_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        auth_token, secret = api_token_issue(user=form.cleaned_data["user"], days=form.cleaned_data["days"])
        # The admin goes on with ``obj`` (log entry, redirect): make it the row just issued.
        for field in ("digest", "token_key", "user", "created", "expiry"):
            setattr(obj, field, getattr(auth_token, field))
        self.message_user(request, f"New API token (shown once, copy it now): {secret}", messages.WARNING)
