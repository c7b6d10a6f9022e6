from __future__ import annotations

from datetime import date

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from registry.followup import scoring
from registry.followup.models import ResponseSource
from registry.surveys.questions import Question, QuestionGroup

CHOICE_ERRORS = {
    "required": _("Please choose an answer."),
    "invalid_choice": _("Please choose one of the answers shown."),
}


class QuestionsForm(forms.Form):
    """One field per question; the templates draw each as a fieldset with a legend."""

    def __init__(self, *args, groups: list[QuestionGroup], **kwargs):
        super().__init__(*args, **kwargs)
        self.groups = groups
        for group in groups:
            for question in group.questions:
                self.fields[question.name] = self._field(question)

    @staticmethod
    def _field(question: Question) -> forms.Field:
        if question.kind == "number":
            return forms.CharField(label=question.text, required=question.required, max_length=5)
        return forms.ChoiceField(
            label=question.text,
            choices=question.options,
            required=question.required,
            widget=forms.RadioSelect,
            error_messages=CHOICE_ERRORS,
        )

    def clean_vas(self):
        value = (self.cleaned_data.get("vas") or "").strip().replace(",", ".")
        if value:
            try:
                scoring.vas_validate(value)
            except scoring.InvalidScoreError:
                raise ValidationError(_("Enter a number from 0 to 10, with at most one decimal.")) from None
        return value

    def rendered_groups(self) -> list[tuple[QuestionGroup, list[tuple[Question, forms.BoundField]]]]:
        return [(group, [(q, self[q.name]) for q in group.questions]) for group in self.groups]

    def error_summary(self) -> list[tuple[str, str, str]]:
        """(anchor id, question, message) for each question with an error, in page order."""
        rows = []
        for group in self.groups:
            for question in group.questions:
                for error in self.errors.get(question.name, []):
                    rows.append((f"q-{question.name}", question.text, error))
        return rows


ENTRY_SOURCES = [(value, label) for value, label in ResponseSource.choices if value != ResponseSource.LINK]


class CoordinatorEntryForm(QuestionsForm):
    source = forms.ChoiceField(label=_("How the answers were collected"), choices=ENTRY_SOURCES)
    collected_on = forms.DateField(label=_("Collected on"), widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, today: date, **kwargs):
        super().__init__(*args, **kwargs)
        self.today = today
        self.fields["collected_on"].initial = today

    def clean_collected_on(self):
        value = self.cleaned_data["collected_on"]
        if value > self.today:
            raise ValidationError(_("This date is in the future."))
        return value
